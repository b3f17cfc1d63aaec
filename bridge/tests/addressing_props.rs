//! Property: for every valid hcid (with a role where the scheme admits one) and every e-mail space where
//! the participant is foreign, rendering the gateway alias then identifying it gives the same participant
//! back (XB-ADDR v0 §1.4: aliases encode the hcid reversibly). Also: no input panics any parser.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use eidas_bridge::addressing::{
    Hcid, Kind, MemoryDirectory, Participant, Role, Space, Translator, TranslatorConfig,
    NIHII_SUBTYPES,
};
use proptest::prelude::*;

fn luhn_complete(body: &str) -> String {
    (0..10)
        .map(|d| format!("{body}{d}"))
        .find(|c| luhn(c))
        .unwrap()
}

fn luhn(s: &str) -> bool {
    let sum: u32 = s
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0') * if i % 2 == 1 { 2 } else { 1 };
            if d > 9 {
                d - 9
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn gs1_complete(body: &str) -> String {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

fn mod97(body: &str) -> String {
    let n: u64 = body.parse().unwrap();
    format!("{:02}", 97 - n % 97)
}

fn digits(n: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(0u8..10, n)
        .prop_map(|v| v.into_iter().map(|d| char::from(b'0' + d)).collect())
}

/// (country, scheme token, value) triples that are valid by construction.
fn valid_hcid() -> impl Strategy<Value = (String, String, String)> {
    let fixed = |cc: &'static str, token: &'static str, n: usize| {
        digits(n).prop_map(move |v| (cc.into(), token.into(), v))
    };
    prop_oneof![
        fixed("FR", "rpps", 11),
        fixed("FR", "adeli", 9),
        digits(8).prop_map(|b| ("FR".into(), "finess".into(), luhn_complete(&b))),
        digits(8).prop_map(|b| ("FR".into(), "siren".into(), luhn_complete(&b))),
        digits(13).prop_map(|b| ("FR".into(), "siret".into(), luhn_complete(&b))),
        (digits(9), "[A-Za-z0-9]{1,8}").prop_map(|(f, i)| (
            "FR".into(),
            "idnat-ps".into(),
            format!("3{f}/{i}")
        )),
        (
            prop::sample::select(vec!["1", "2", "3", "4", "5", "7", "8", "9", "10", "11"]),
            "[A-Za-z0-9 '()+,./:=?-]{1,30}"
        )
            .prop_map(|(p, f)| ("DE".into(), "telematik-id".into(), format!("{p}-{f}"))),
        fixed("DE", "lanr", 9),
        fixed("DE", "bsnr", 9),
        (digits(8), digits(2)).prop_map(|(a, c)| (
            "DE".into(),
            "leitweg-id".into(),
            format!("{a}-{c}")
        )),
        digits(6).prop_map(|b| {
            let k = mod97(&b);
            ("BE".into(), "nihii".into(), format!("{b}{k}004"))
        }),
        (digits(6), prop::sample::select(NIHII_SUBTYPES.to_vec())).prop_map(|(b, s)| {
            let k = mod97(&b);
            ("BE".into(), format!("nihii-{s}"), format!("{b}{k}"))
        }),
        digits(9).prop_map(|b| {
            let k = mod97(&b);
            ("BE".into(), "ssin".into(), format!("{b}{k}"))
        }),
        digits(7).prop_map(|b| {
            let b = format!("0{b}");
            let k = mod97(&b);
            ("BE".into(), "cbe".into(), format!("{b}{k}"))
        }),
        fixed("BE", "ehp", 10),
        fixed("NL", "agb", 8),
        fixed("NL", "uzi", 9),
        fixed("NL", "ura", 8),
        fixed("NL", "oin", 20),
        fixed("LU", "matricule", 13),
        digits(12).prop_map(|b| ("INT".into(), "gln".into(), gs1_complete(&b))),
        digits(10).prop_map(|v| ("SE".into(), "icd-0007".into(), v)),
        fixed("INT", "icd-0060", 9),
        "[A-Za-z0-9]{6}".prop_map(|v| ("IT".into(), "icd-0201".into(), v)),
    ]
}

fn translator() -> Translator<MemoryDirectory> {
    Translator::new(TranslatorConfig::default(), MemoryDirectory::new())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn alias_round_trip((cc, token, value) in valid_hcid(), role in prop::option::of(prop::sample::select(Role::ALL.to_vec()))) {
        let hcid = Hcid::new(&cc, &token, &value).unwrap();
        let role = if matches!(hcid.scheme().kind(), Kind::Person | Kind::Any) { role } else { None };
        let p = Participant::with_role(hcid, role).unwrap();
        let t = translator();
        for space in [Space::Mssante, Space::Kim] {
            if Some(p.hcid.country()) == space.country() {
                continue;
            }
            let alias = match t.render(&p, space) {
                Ok(a) => a,
                Err(e) => {
                    // Only over-long aliases may be refused (RFC 5321 local-part limit).
                    prop_assert_eq!(e.code(), "alias_too_long");
                    continue;
                }
            };
            let back = t.identify(space, &alias).unwrap();
            prop_assert_eq!(&back, &p, "{}", alias);
            // And through the canonical text form.
            prop_assert_eq!(Participant::parse(&p.to_string()).unwrap(), p.clone());
        }
    }

    #[test]
    fn no_parser_panics(input in "\\PC{0,80}|[a-zA-Z0-9.:;=%@_/-]{0,80}") {
        let t = translator();
        for space in Space::ALL {
            let _ = t.identify(space, &input);
        }
    }
}
