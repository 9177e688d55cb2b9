//! Authentication: the admin password (stored only as an argon2 hash in the state
//! directory), login sessions (random bearer tokens, also set as a cookie), and the per-client
//! login rate limiter. The limiter and the session table are pure: `now` is passed in.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use base64::Engine;
use rand::RngCore;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The only user.
pub const ADMIN_USER: &str = "admin";
/// Name of the session cookie.
pub const COOKIE: &str = "periscope_session";
/// A session unused for this long expires.
pub const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; the least recently used goes first.
pub const MAX_SESSIONS: usize = 256;
/// Failed logins allowed per client address within [`LOGIN_WINDOW`].
pub const LOGIN_FAILURES: usize = 5;
/// Window of the login limiter.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(60);
/// File in the state directory holding the password hash.
pub const HASH_FILE: &str = "admin.argon2";

/// Errors setting up or checking the password.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The hash file could not be read or written.
    #[error("auth: {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The stored hash is not a valid PHC string.
    #[error("auth: {path}: not a valid password hash (delete it and restart, or run `periscope passwd`)")]
    BadHash {
        /// The file.
        path: PathBuf,
    },
    /// Hashing failed.
    #[error("auth: hashing failed: {0}")]
    Hash(String),
}

/// How the password was set up at start.
#[derive(Debug, PartialEq, Eq)]
pub enum PasswordOrigin {
    /// From `PERISCOPE_ADMIN_PASSWORD`.
    Environment,
    /// Loaded from the state directory.
    Stored,
    /// Generated now; shown once.
    Generated(String),
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Checks a password against a stored hash (constant time inside argon2).
pub fn verify_password(hash: &str, password: &str) -> bool {
    if PasswordHash::new(hash).is_err() {
        return false;
    }
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A random password of 16 URL-safe characters.
pub fn generate_password() -> String {
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Sets up the password hash in `state_dir`: from `env_password` if given, else the stored
/// one, else a generated one. Returns the hash and where it came from.
pub fn init_password(
    state_dir: &Path,
    env_password: Option<&str>,
) -> Result<(String, PasswordOrigin), AuthError> {
    let path = state_dir.join(HASH_FILE);
    let io = |source| AuthError::Io {
        path: path.clone(),
        source,
    };
    if let Some(pw) = env_password.filter(|p| !p.is_empty()) {
        let hash = hash_password(pw)?;
        write_private(&path, &hash).map_err(io)?;
        return Ok((hash, PasswordOrigin::Environment));
    }
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let hash = text.trim().to_string();
            if PasswordHash::new(&hash).is_err() {
                return Err(AuthError::BadHash { path });
            }
            Ok((hash, PasswordOrigin::Stored))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let pw = generate_password();
            let hash = hash_password(&pw)?;
            write_private(&path, &hash).map_err(io)?;
            Ok((hash, PasswordOrigin::Generated(pw)))
        }
        Err(e) => Err(io(e)),
    }
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Login sessions: token → last use.
#[derive(Debug, Default)]
pub struct Sessions {
    tokens: HashMap<String, Instant>,
}

impl Sessions {
    /// Creates a session and returns its token.
    pub fn create(&mut self, now: Instant) -> String {
        self.expire(now);
        if self.tokens.len() >= MAX_SESSIONS {
            if let Some(oldest) = self
                .tokens
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(k, _)| k.clone())
            {
                self.tokens.remove(&oldest);
            }
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        self.tokens.insert(token.clone(), now);
        token
    }

    /// Whether `token` is a live session (and marks it used).
    pub fn check(&mut self, token: &str, now: Instant) -> bool {
        match self.tokens.get_mut(token) {
            Some(last) if now.saturating_duration_since(*last) < SESSION_IDLE => {
                *last = now;
                true
            }
            Some(_) => {
                self.tokens.remove(token);
                false
            }
            None => false,
        }
    }

    /// Ends a session.
    pub fn remove(&mut self, token: &str) {
        self.tokens.remove(token);
    }

    fn expire(&mut self, now: Instant) {
        self.tokens
            .retain(|_, last| now.saturating_duration_since(*last) < SESSION_IDLE);
    }
}

/// Failed logins per client address in a sliding window.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: HashMap<IpAddr, Vec<Instant>>,
}

impl LoginLimiter {
    /// Whether `ip` may try now.
    pub fn allowed(&mut self, ip: IpAddr, now: Instant) -> bool {
        let list = self.failures.entry(ip).or_default();
        list.retain(|t| now.saturating_duration_since(*t) < LOGIN_WINDOW);
        list.len() < LOGIN_FAILURES
    }

    /// Records a failed attempt.
    pub fn failed(&mut self, ip: IpAddr, now: Instant) {
        self.failures.entry(ip).or_default().push(now);
        if self.failures.len() > 10_000 {
            self.failures.retain(|_, l| {
                l.iter()
                    .any(|t| now.saturating_duration_since(*t) < LOGIN_WINDOW)
            });
        }
    }

    /// Clears an address after a successful login.
    pub fn succeeded(&mut self, ip: IpAddr) {
        self.failures.remove(&ip);
    }
}

/// The authentication state the HTTP layer shares.
#[derive(Debug)]
pub struct Auth {
    hash: String,
    /// Live sessions.
    pub sessions: Mutex<Sessions>,
    /// Login limiter.
    pub limiter: Mutex<LoginLimiter>,
}

impl Auth {
    /// Auth with the given password hash.
    pub fn new(hash: String) -> Auth {
        Auth {
            hash,
            sessions: Mutex::default(),
            limiter: Mutex::default(),
        }
    }

    /// Checks credentials (slow: argon2; call off the async threads).
    pub fn verify(&self, user: &str, password: &str) -> bool {
        let ok = verify_password(&self.hash, password);
        ok && user == ADMIN_USER
    }

    /// Whether a token is a live session.
    pub fn check_token(&self, token: &str) -> bool {
        self.sessions
            .lock()
            .map(|mut s| s.check(token, Instant::now()))
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_round_trip() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "wrong"));
        assert!(!verify_password("garbage", "x"));
    }

    #[test]
    fn init_generates_once_then_loads_and_env_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let (h1, o1) = init_password(dir.path(), None).unwrap();
        let PasswordOrigin::Generated(pw) = o1 else {
            panic!("expected a generated password")
        };
        assert!(verify_password(&h1, &pw));
        let stored = std::fs::read_to_string(dir.path().join(HASH_FILE)).unwrap();
        assert!(!stored.contains(&pw), "only the hash is stored");
        let (h2, o2) = init_password(dir.path(), None).unwrap();
        assert_eq!((h2.as_str(), o2), (h1.as_str(), PasswordOrigin::Stored));
        let (h3, o3) = init_password(dir.path(), Some("from-env")).unwrap();
        assert_eq!(o3, PasswordOrigin::Environment);
        assert!(verify_password(&h3, "from-env"));
        std::fs::write(dir.path().join(HASH_FILE), "nonsense").unwrap();
        assert!(matches!(
            init_password(dir.path(), None),
            Err(AuthError::BadHash { .. })
        ));
    }

    #[test]
    fn sessions_expire_when_idle() {
        let t0 = Instant::now();
        let mut s = Sessions::default();
        let tok = s.create(t0);
        assert!(s.check(&tok, t0 + Duration::from_secs(60)));
        assert!(!s.check("other", t0));
        assert!(!s.check(&tok, t0 + Duration::from_secs(60) + SESSION_IDLE));
        assert!(!s.check(&tok, t0), "an expired session is gone");
    }

    #[test]
    fn login_limiter_blocks_after_failures_per_address() {
        let t0 = Instant::now();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let mut l = LoginLimiter::default();
        for _ in 0..LOGIN_FAILURES {
            assert!(l.allowed(a, t0));
            l.failed(a, t0);
        }
        assert!(!l.allowed(a, t0));
        assert!(l.allowed(b, t0), "other addresses are not affected");
        assert!(l.allowed(a, t0 + LOGIN_WINDOW), "the window slides");
    }
}
