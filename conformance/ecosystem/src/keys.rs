//! Deterministic key material from a seed: a SHA-256 counter-mode byte stream (test use only,
//! never for real keys) feeds RSA prime search and EC scalars, so the same seed always gives
//! the same keys and, with RSA PKCS#1 v1.5 certificate signatures, the same certificates.

use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey, EcPoint};
use openssl::error::ErrorStack;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use sha2::{Digest, Sha256};

/// A deterministic byte stream derived from a seed and a label.
#[derive(Debug, Clone)]
pub struct Drbg {
    seed: Vec<u8>,
    counter: u64,
}

impl Drbg {
    /// A stream for `label` under `seed`.
    pub fn new(seed: &[u8], label: &str) -> Self {
        let mut s = seed.to_vec();
        s.extend_from_slice(b"/");
        s.extend_from_slice(label.as_bytes());
        Drbg {
            seed: s,
            counter: 0,
        }
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 32);
        while out.len() < n {
            let mut h = Sha256::new();
            h.update(&self.seed);
            h.update(self.counter.to_be_bytes());
            self.counter += 1;
            out.extend_from_slice(&h.finalize());
        }
        out.truncate(n);
        out
    }
}

/// A deterministic RSA key of `bits` bits (e = 65537).
pub fn rsa_key(seed: &[u8], label: &str, bits: usize) -> Result<PKey<Private>, ErrorStack> {
    let mut drbg = Drbg::new(seed, label);
    let mut ctx = BigNumContext::new()?;
    let e = BigNum::from_u32(65_537)?;
    loop {
        let p = prime(&mut drbg, bits / 2, &mut ctx)?;
        let q = prime(&mut drbg, bits / 2, &mut ctx)?;
        if p == q {
            continue;
        }
        let one = BigNum::from_u32(1)?;
        let mut p1 = BigNum::new()?;
        p1.checked_sub(&p, &one)?;
        let mut q1 = BigNum::new()?;
        q1.checked_sub(&q, &one)?;
        let mut phi = BigNum::new()?;
        phi.checked_mul(&p1, &q1, &mut ctx)?;
        let mut d = BigNum::new()?;
        if d.mod_inverse(&e, &phi, &mut ctx).is_err() {
            continue;
        }
        let mut n = BigNum::new()?;
        n.checked_mul(&p, &q, &mut ctx)?;
        let mut dmp1 = BigNum::new()?;
        dmp1.nnmod(&d, &p1, &mut ctx)?;
        let mut dmq1 = BigNum::new()?;
        dmq1.nnmod(&d, &q1, &mut ctx)?;
        let mut iqmp = BigNum::new()?;
        iqmp.mod_inverse(&q, &p, &mut ctx)?;
        let rsa =
            Rsa::from_private_components(n, BigNum::from_u32(65_537)?, d, p, q, dmp1, dmq1, iqmp)?;
        return PKey::from_rsa(rsa);
    }
}

fn prime(drbg: &mut Drbg, bits: usize, ctx: &mut BigNumContext) -> Result<BigNum, ErrorStack> {
    let mut bytes = drbg.bytes(bits / 8);
    // Top two bits set so p*q has the full size; odd.
    bytes[0] |= 0xC0;
    if let Some(last) = bytes.last_mut() {
        *last |= 1;
    }
    let mut candidate = BigNum::from_slice(&bytes)?;
    while !candidate.is_prime_fasttest(32, ctx, true)? {
        candidate.add_word(2)?;
    }
    Ok(candidate)
}

/// A deterministic EC key on P-256 or P-384.
pub fn ec_key(seed: &[u8], label: &str, curve: Nid) -> Result<PKey<Private>, ErrorStack> {
    let group = EcGroup::from_curve_name(curve)?;
    let mut ctx = BigNumContext::new()?;
    let mut order = BigNum::new()?;
    group.order(&mut order, &mut ctx)?;
    let mut drbg = Drbg::new(seed, label);
    let raw = BigNum::from_slice(&drbg.bytes(order.num_bytes() as usize + 8))?;
    let mut scalar = BigNum::new()?;
    scalar.nnmod(&raw, &order, &mut ctx)?;
    if scalar.num_bits() == 0 {
        scalar = BigNum::from_u32(1)?;
    }
    let mut point = EcPoint::new(&group)?;
    point.mul_generator2(&group, &scalar, &mut ctx)?;
    PKey::from_ec_key(EcKey::from_private_components(&group, &scalar, &point)?)
}
