//! The translator: `render_B(identify_A(input))` (XB-ADDR v0 §1.4) with the processing order of §5, over a
//! configuration (gateway alias domains, TI environment) and a [`Directory`].

use super::alias::{decode_alias, encode_alias};
use super::directory::{Directory, Entry};
use super::ehbox::{identify_ehbox, render_ehbox};
use super::email::{within, AddrSpec};
use super::error::AddressError;
use super::hcid::{Hcid, Participant};
use super::peppol::{identify_peppol, render_ehdsi, render_peppol};
use super::scheme::Scheme;
use super::space::Space;

/// Default MSSanté gateway alias domain (corpus README; must be on the MSSanté whitelist in production).
pub const DEFAULT_MSSANTE_GATEWAY: &str = "xb-gw.mssante.fr";
/// Default KIM gateway alias domain (corpus README; needs VZD entries for the bridge's institution).
pub const DEFAULT_KIM_GATEWAY: &str = "xb-gw.kim.telematik";
/// Parent domain of the MSSanté space (background §1: nearly all whitelisted domains end in it).
const MSSANTE_DOMAIN: &str = "mssante.fr";
/// Domain of Mon espace santé patient boxes (`<INS>@patient.mssante.fr`).
const PATIENT_DOMAIN: &str = "patient.mssante.fr";
/// KIM production domain suffix (TI production).
const KIM_PRODUCTION: &str = "kim.telematik";
/// KIM test/reference environment suffixes (including the legacy KOM-LE one seen in VZD examples).
const KIM_TEST: [&str; 2] = ["kim.telematik-test", "komle.telematik-test"];

/// Which Telematikinfrastruktur environment the bridge belongs to (§4 `kim` row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TiEnvironment {
    /// `*.kim.telematik`.
    #[default]
    Production,
    /// `*.kim.telematik-test` (RU/TU reference environments).
    Test,
}

/// Translation configuration: deployment facts, not rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslatorConfig {
    /// The gateway alias domain in the MSSanté space (lower case).
    pub mssante_gateway: String,
    /// The gateway alias domain in the KIM space (lower case).
    pub kim_gateway: String,
    /// The TI environment of the bridge.
    pub ti_environment: TiEnvironment,
}

impl Default for TranslatorConfig {
    fn default() -> Self {
        Self {
            mssante_gateway: DEFAULT_MSSANTE_GATEWAY.to_owned(),
            kim_gateway: DEFAULT_KIM_GATEWAY.to_owned(),
            ti_environment: TiEnvironment::Production,
        }
    }
}

/// Translates addresses between spaces.
#[derive(Debug, Clone)]
pub struct Translator<D> {
    config: TranslatorConfig,
    directory: D,
}

impl<D: Directory> Translator<D> {
    /// A translator over `directory`.
    pub fn new(config: TranslatorConfig, directory: D) -> Self {
        Self { config, directory }
    }

    /// The directory.
    pub fn directory(&self) -> &D {
        &self.directory
    }

    /// Translates `input` from the space named `from` to the space named `to` (§5 processing order).
    ///
    /// # Errors
    /// Any [`AddressError`] of §5, in the order of its steps.
    pub fn translate(&self, input: &str, from: &str, to: &str) -> Result<String, AddressError> {
        // 1. Space names; `ehdsi` is a target only.
        let from = Space::parse(from)?;
        let to = Space::parse(to)?;
        let participant = self.identify(from, input)?;
        self.render(&participant, to)
    }

    /// Identifies the participant behind `input` in `space` (§5 steps 2–7).
    ///
    /// # Errors
    /// `unsupported_direction` for `ehdsi`; the syntax, membership, alias, scheme and directory errors.
    pub fn identify(&self, space: Space, input: &str) -> Result<Participant, AddressError> {
        match space {
            Space::Canonical => Participant::parse(input),
            Space::Mssante | Space::Kim => self.identify_email(space, input),
            Space::Ehealthbox => identify_ehbox(input),
            Space::Peppol => identify_peppol(input),
            Space::Ehdsi => Err(AddressError::UnsupportedDirection(Space::Ehdsi)),
        }
    }

    /// Renders `p` in `space` (§5 step 8).
    ///
    /// # Errors
    /// `patient_out_of_scope`, `no_mailbox_in_target_space`, `ambiguous_mailbox`, `alias_too_long`,
    /// `foreign_participant_not_addressable`, `role_required`, `no_icd_for_scheme`, `no_country`.
    pub fn render(&self, p: &Participant, space: Space) -> Result<String, AddressError> {
        // §1.5: patients are representable (canonical) but never relayed.
        if p.hcid.is_patient() && space != Space::Canonical {
            return Err(AddressError::PatientOutOfScope);
        }
        match space {
            Space::Canonical => Ok(p.to_string()),
            Space::Mssante | Space::Kim => self.render_email(p, space),
            Space::Ehealthbox => render_ehbox(p),
            Space::Peppol => render_peppol(&p.hcid),
            Space::Ehdsi => render_ehdsi(&p.hcid),
        }
    }

    /// The gateway alias domain of an e-mail space.
    fn gateway(&self, space: Space) -> &str {
        if space == Space::Kim {
            &self.config.kim_gateway
        } else {
            &self.config.mssante_gateway
        }
    }

    /// Native or gateway-alias e-mail address → participant.
    fn identify_email(&self, space: Space, input: &str) -> Result<Participant, AddressError> {
        // 2. Syntax.
        let addr = AddrSpec::parse(input)?;
        // 3. Space membership and environment.
        self.check_membership(space, &addr.domain)?;
        // 4–6. Gateway alias: decode, validate, refuse loops back into this space.
        if addr.domain == self.gateway(space) {
            let p = decode_alias(&addr.local)?;
            if Some(p.hcid.country()) == space.country() {
                return Err(AddressError::AliasLoop);
            }
            return Ok(p);
        }
        // Mon espace santé: the local part is the patient's INS (NIR).
        if space == Space::Mssante && addr.domain == PATIENT_DOMAIN {
            return Ok(Participant::new(Hcid::from_scheme(
                Scheme::InsNir,
                &addr.local,
            )?));
        }
        // 7. Directory.
        let entry = self
            .directory
            .lookup_address(space, &addr.address())
            .map_err(|_| AddressError::DirectoryUnavailable)?
            .ok_or(AddressError::NotInDirectory)?;
        Participant::with_role(entry.hcid, entry.role)
    }

    /// §4 space membership of a domain.
    fn check_membership(&self, space: Space, domain: &str) -> Result<(), AddressError> {
        // The configured gateway domain is in the space by definition (whatever its environment).
        if domain == self.gateway(space) {
            return Ok(());
        }
        if space == Space::Mssante {
            return if within(domain, MSSANTE_DOMAIN) {
                Ok(())
            } else {
                Err(AddressError::NotInSpace(space))
            };
        }
        let production = within(domain, KIM_PRODUCTION);
        let test = KIM_TEST.iter().any(|t| within(domain, t));
        match (self.config.ti_environment, production, test) {
            (TiEnvironment::Production, true, _) | (TiEnvironment::Test, _, true) => Ok(()),
            (_, true, _) | (_, _, true) => Err(AddressError::WrongEnvironment),
            _ => Err(AddressError::NotInSpace(space)),
        }
    }

    /// Participant → native mailbox (own country) or gateway alias (foreign).
    fn render_email(&self, p: &Participant, space: Space) -> Result<String, AddressError> {
        if Some(p.hcid.country()) != space.country() {
            return encode_alias(p, self.gateway(space));
        }
        let boxes: Vec<Entry> = self
            .directory
            .lookup_hcid(space, &p.hcid)
            .map_err(|_| AddressError::DirectoryUnavailable)?;
        match boxes.as_slice() {
            [] => Err(AddressError::NoMailboxInTargetSpace),
            [only] => Ok(only.address.clone()),
            _ => Err(AddressError::AmbiguousMailbox),
        }
    }
}

#[cfg(test)]
mod tests;
