//! Authentication: the admin password (stored only as an argon2 hash in the state
//! directory), login sessions (random bearer tokens, also set as a cookie), and the per-client
//! login rate limiter. The limiter and the session table are pure: `now` is passed in.
//! Password checks are argon2: each holds [`ARGON2_M_KIB`] of memory while it runs, so
//! [`CheckGate`] lets only a few run at once and turns away a flood of logins.
//!
//! Roles: `admin` logs in as the controller (sees and types). An optional `viewer` user
//! (enabled by `periscope passwd --user viewer` or `PERISCOPE_VIEWER_PASSWORD`) sees the
//! screen only: its sessions carry [`Role::Viewer`] and the input channel refuses them.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use rand::RngCore;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

pub use periscope_signaling::Role;

/// The controlling user.
pub const ADMIN_USER: &str = "admin";
/// The view-only user (exists when its password is set).
pub const VIEWER_USER: &str = "viewer";
/// File in the state directory holding the viewer's password hash.
pub const VIEWER_HASH_FILE: &str = "viewer.argon2";
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

/// argon2id memory per password check, KiB: 7 MiB with [`ARGON2_T`] passes is one of
/// OWASP's equal-strength argon2id settings (as is the crate's default, 19 MiB with 2
/// passes), for a third of the memory: a board with 512 MB and a 1080p encoder pays it at
/// every login. Hashes keep their own parameters: older ones still verify.
pub const ARGON2_M_KIB: u32 = 7 * 1024;
/// argon2id passes (see [`ARGON2_M_KIB`]).
pub const ARGON2_T: u32 = 5;

/// Hashes a password with argon2id ([`ARGON2_M_KIB`], [`ARGON2_T`], one lane) and a random
/// salt.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let params =
        Params::new(ARGON2_M_KIB, ARGON2_T, 1, None).map_err(|e| AuthError::Hash(e.to_string()))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
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

/// Where a user's hash came from in [`load_or_set`].
enum Loaded {
    /// Set from the environment (and stored).
    Environment(String),
    /// Read from the state directory.
    Stored(String),
    /// No variable and no file.
    Missing,
}

/// A user's hash file in `state_dir`: set from `env_password` when given (and stored), else
/// read and checked.
fn load_or_set(path: &Path, env_password: Option<&str>) -> Result<Loaded, AuthError> {
    let io = |source| AuthError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(pw) = env_password.filter(|p| !p.is_empty()) {
        let hash = hash_password(pw)?;
        write_private(path, &hash).map_err(io)?;
        return Ok(Loaded::Environment(hash));
    }
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let hash = text.trim().to_string();
            if PasswordHash::new(&hash).is_err() {
                return Err(AuthError::BadHash {
                    path: path.to_path_buf(),
                });
            }
            Ok(Loaded::Stored(hash))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Loaded::Missing),
        Err(e) => Err(io(e)),
    }
}

/// Sets up the password hash in `state_dir`: from `env_password` if given, else the stored
/// one, else a generated one. Returns the hash and where it came from.
pub fn init_password(
    state_dir: &Path,
    env_password: Option<&str>,
) -> Result<(String, PasswordOrigin), AuthError> {
    let path = state_dir.join(HASH_FILE);
    Ok(match load_or_set(&path, env_password)? {
        Loaded::Environment(hash) => (hash, PasswordOrigin::Environment),
        Loaded::Stored(hash) => (hash, PasswordOrigin::Stored),
        Loaded::Missing => {
            let pw = generate_password();
            let hash = hash_password(&pw)?;
            write_private(&path, &hash).map_err(|source| AuthError::Io {
                path: path.clone(),
                source,
            })?;
            (hash, PasswordOrigin::Generated(pw))
        }
    })
}

/// The viewer's password hash, if the viewer user exists: set from `env_password` (stored),
/// else read from the state directory. No file and no variable: no viewer user.
pub fn init_viewer_password(
    state_dir: &Path,
    env_password: Option<&str>,
) -> Result<Option<String>, AuthError> {
    Ok(
        match load_or_set(&state_dir.join(VIEWER_HASH_FILE), env_password)? {
            Loaded::Environment(hash) | Loaded::Stored(hash) => Some(hash),
            Loaded::Missing => None,
        },
    )
}

/// The hash file of a user (`admin` or `viewer`), or `None` for another name.
pub fn hash_file(user: &str) -> Option<&'static str> {
    match user {
        ADMIN_USER => Some(HASH_FILE),
        VIEWER_USER => Some(VIEWER_HASH_FILE),
        _ => None,
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

/// Login sessions: token → (last use, role).
#[derive(Debug, Default)]
pub struct Sessions {
    tokens: HashMap<String, (Instant, Role)>,
}

impl Sessions {
    /// Creates a session with `role` and returns its token.
    pub fn create(&mut self, now: Instant, role: Role) -> String {
        self.expire(now);
        if self.tokens.len() >= MAX_SESSIONS {
            if let Some(oldest) = self
                .tokens
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| k.clone())
            {
                self.tokens.remove(&oldest);
            }
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        self.tokens.insert(token.clone(), (now, role));
        token
    }

    /// The role of a live session (and marks it used); `None` when unknown or expired.
    pub fn check(&mut self, token: &str, now: Instant) -> Option<Role> {
        match self.tokens.get_mut(token) {
            Some((last, role)) if now.saturating_duration_since(*last) < SESSION_IDLE => {
                *last = now;
                Some(*role)
            }
            Some(_) => {
                self.tokens.remove(token);
                None
            }
            None => None,
        }
    }

    /// Ends a session.
    pub fn remove(&mut self, token: &str) {
        self.tokens.remove(token);
    }

    fn expire(&mut self, now: Instant) {
        self.tokens
            .retain(|_, (last, _)| now.saturating_duration_since(*last) < SESSION_IDLE);
    }
}

/// Password checks that may run at once (each holds its argon2 memory while it runs).
pub const CHECKS_RUNNING: usize = 2;
/// Logins that may wait for a free check; more at once are turned away
/// ([`GateError::Busy`]).
pub const CHECKS_WAITING: usize = 16;

/// Why [`CheckGate::run`] gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateError {
    /// Too many checks running and waiting already: try again shortly.
    Busy,
    /// The check itself failed to run (it panicked).
    Failed,
}

/// Bounds the password checks in flight: at most `running` on the blocking pool, at most
/// `waiting` more queued; beyond that a login is answered at once. The failed-login limiter
/// counts only answered attempts, so without this a burst of simultaneous logins (before any
/// has failed) would start one argon2 check, with its memory, per request.
#[derive(Debug)]
pub struct CheckGate {
    /// A place in the gate, running or waiting; none free: [`GateError::Busy`].
    places: Semaphore,
    /// A running check (its memory).
    running: Arc<Semaphore>,
}

impl CheckGate {
    /// A gate letting `running` checks run and `waiting` more wait.
    pub fn new(running: usize, waiting: usize) -> CheckGate {
        CheckGate {
            places: Semaphore::new(running.max(1) + waiting),
            running: Arc::new(Semaphore::new(running.max(1))),
        }
    }

    /// Runs `check` on the blocking pool once a running slot is free. The slot stays taken
    /// until `check` returns, even if the caller stops waiting for it.
    pub async fn run<T, F>(&self, check: F) -> Result<T, GateError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let _place = self.places.try_acquire().map_err(|_| GateError::Busy)?;
        let slot = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|_| GateError::Failed)?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            check()
        })
        .await
        .map_err(|_| GateError::Failed)
    }
}

impl Default for CheckGate {
    fn default() -> CheckGate {
        CheckGate::new(CHECKS_RUNNING, CHECKS_WAITING)
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
    viewer_hash: Option<String>,
    /// Live sessions.
    pub sessions: Mutex<Sessions>,
    /// Login limiter.
    pub limiter: Mutex<LoginLimiter>,
    /// Password checks in flight.
    pub checks: CheckGate,
}

impl Auth {
    /// Auth with the admin's password hash and, when the viewer user exists, its hash.
    pub fn new(hash: String, viewer_hash: Option<String>) -> Auth {
        Auth {
            hash,
            viewer_hash,
            sessions: Mutex::default(),
            limiter: Mutex::default(),
            checks: CheckGate::default(),
        }
    }

    /// Checks credentials (slow: argon2; call off the async threads): the role they log in
    /// as, or `None`.
    pub fn verify(&self, user: &str, password: &str) -> Option<Role> {
        // Both hashes are always checked so timing does not tell which users exist.
        let admin = verify_password(&self.hash, password);
        let viewer = match &self.viewer_hash {
            Some(h) => verify_password(h, password),
            None => false,
        };
        match user {
            ADMIN_USER if admin => Some(Role::Controller),
            VIEWER_USER if viewer => Some(Role::Viewer),
            _ => None,
        }
    }

    /// The role of a live session token, or `None`.
    pub fn check_token(&self, token: &str) -> Option<Role> {
        self.sessions
            .lock()
            .ok()
            .and_then(|mut s| s.check(token, Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn password_hash_round_trip() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(h.contains("$m=7168,t=5,p=1$"), "{h}");
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "wrong"));
        // A hash made with the crate's default parameters (19 MiB, 2 passes) still verifies.
        let old = Argon2::default()
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        assert!(old.contains("$m=19456,t=2,p=1$"), "{old}");
        assert!(verify_password(&old, "correct horse"));
        assert!(!verify_password(&old, "wrong"));
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
    fn the_viewer_exists_only_with_a_password_and_gets_the_viewer_role() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(init_viewer_password(dir.path(), None).unwrap(), None);
        let admin = hash_password("admin-password").unwrap();
        let no_viewer = Auth::new(admin.clone(), None);
        assert_eq!(no_viewer.verify(VIEWER_USER, ""), None);
        assert_eq!(
            no_viewer.verify(ADMIN_USER, "admin-password"),
            Some(Role::Controller)
        );
        let vh = init_viewer_password(dir.path(), Some("viewer-password"))
            .unwrap()
            .expect("set from the environment");
        assert_eq!(
            init_viewer_password(dir.path(), None).unwrap().as_deref(),
            Some(vh.as_str()),
            "stored"
        );
        let auth = Auth::new(admin, Some(vh));
        assert_eq!(
            auth.verify(VIEWER_USER, "viewer-password"),
            Some(Role::Viewer)
        );
        assert_eq!(auth.verify(ADMIN_USER, "viewer-password"), None);
        assert_eq!(auth.verify(VIEWER_USER, "admin-password"), None);
        assert_eq!(auth.verify("root", "admin-password"), None);
        assert_eq!(hash_file("viewer"), Some(VIEWER_HASH_FILE));
        assert_eq!(hash_file("root"), None);
    }

    #[test]
    fn sessions_expire_when_idle() {
        let t0 = Instant::now();
        let mut s = Sessions::default();
        let tok = s.create(t0, Role::Controller);
        let view = s.create(t0, Role::Viewer);
        assert_eq!(
            s.check(&tok, t0 + Duration::from_secs(60)),
            Some(Role::Controller)
        );
        assert_eq!(s.check(&view, t0), Some(Role::Viewer));
        assert_eq!(s.check("other", t0), None);
        assert_eq!(
            s.check(&tok, t0 + Duration::from_secs(60) + SESSION_IDLE),
            None
        );
        assert_eq!(s.check(&tok, t0), None, "an expired session is gone");
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

    /// Lets held checks go when set, and when dropped (so a failing test does not leave
    /// them, and the runtime's shutdown, waiting).
    struct Release(Arc<std::sync::atomic::AtomicBool>);

    impl Release {
        fn new() -> Release {
            Release(Arc::new(std::sync::atomic::AtomicBool::new(false)))
        }
        fn set(&self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    impl Drop for Release {
        fn drop(&mut self) {
            self.set();
        }
    }

    /// A check that waits for `release` and counts how many run at once.
    fn held_check(
        running: &Arc<AtomicUsize>,
        most: &Arc<AtomicUsize>,
        release: &Release,
    ) -> impl FnOnce() -> usize + Send + 'static {
        let (running, most, go) = (running.clone(), most.clone(), release.0.clone());
        move || {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            while !go.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            running.fetch_sub(1, Ordering::SeqCst);
            now
        }
    }

    /// A gate, its held checks' counters (running now, most at once) and their release.
    fn held_gate(
        running: usize,
        waiting: usize,
    ) -> (Arc<CheckGate>, Arc<AtomicUsize>, Arc<AtomicUsize>, Release) {
        (
            Arc::new(CheckGate::new(running, waiting)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Release::new(),
        )
    }

    /// Returns once `n` held checks run.
    async fn until_running(running: &AtomicUsize, n: usize) {
        while running.load(Ordering::SeqCst) < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_gate_runs_a_few_checks_at_once_queues_some_and_turns_the_rest_away() {
        let (gate, running, most, release) = held_gate(2, 4);
        // Two checks run and are held; four more queue.
        let mut admitted = Vec::new();
        for _ in 0..6 {
            let (gate, check) = (gate.clone(), held_check(&running, &most, &release));
            admitted.push(tokio::spawn(async move { gate.run(check).await }));
        }
        until_running(&running, 2).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(running.load(Ordering::SeqCst), 2, "the others wait");
        // Running 2 + waiting 4: the seventh is answered at once, and runs nothing.
        let seventh = tokio::time::timeout(Duration::from_secs(2), gate.run(|| 0usize)).await;
        assert_eq!(seventh, Ok(Err(GateError::Busy)), "answered at once");
        release.set();
        for task in admitted {
            assert!(task.await.unwrap().is_ok());
        }
        assert_eq!(
            most.load(Ordering::SeqCst),
            2,
            "never more than two at once"
        );
        // Every place is free again.
        assert_eq!(gate.run(|| 7usize).await, Ok(7));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_check_keeps_its_slot_after_its_caller_has_gone() {
        let (gate, running, most, release) = held_gate(1, 1);
        let (g, check) = (gate.clone(), held_check(&running, &most, &release));
        let first = tokio::spawn(async move { g.run(check).await });
        until_running(&running, 1).await;
        // Its client goes away: its place in the gate is free, its check still runs.
        first.abort();
        assert!(first.await.unwrap_err().is_cancelled());
        let started = Arc::new(AtomicUsize::new(0));
        let s = started.clone();
        let g = gate.clone();
        let second =
            tokio::spawn(async move { g.run(move || s.fetch_add(1, Ordering::SeqCst)).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            started.load(Ordering::SeqCst),
            0,
            "waits for the first check's memory"
        );
        release.set();
        assert_eq!(second.await.unwrap(), Ok(0));
        assert_eq!(most.load(Ordering::SeqCst), 1);
    }
}
