//! Secrets at rest: argon2id hashes in PHC string form.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};

use crate::config::HashCost;

fn hasher(cost: HashCost) -> Argon2<'static> {
    let params = Params::new(cost.memory_kib, cost.iterations, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a secret with a fresh random salt. CPU-heavy: call off the async threads.
pub fn hash(secret: &str, cost: HashCost) -> String {
    hasher(cost)
        .hash_password(secret.as_bytes())
        .expect("argon2 hashing with valid parameters cannot fail")
        .to_string()
}

/// Verifies with the parameters stored in the hash. CPU-heavy.
pub fn verify(secret: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(secret.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A new random secret: 32 lowercase hex digits, like Twilio's Auth Tokens.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random number generator failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let a = hash("s3cret", HashCost::TESTING);
        let b = hash("s3cret", HashCost::TESTING);
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        assert!(verify("s3cret", &a));
        assert!(!verify("s3cret!", &a));
        assert!(!verify("s3cret", "not a hash"));
    }

    #[test]
    fn secrets_are_random_hex() {
        let s = generate_secret();
        assert_eq!(s.len(), 32);
        assert!(s.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(s, generate_secret());
    }
}
