//! Which TLS cipher suite a connection gets: the one cheapest for this CPU to encrypt with,
//! unless the client shows it cannot do AES fast itself. Pure: suite lists in, an order or a
//! choice out ([`super::tls`] applies them to each connection's ClientHello).
//!
//! Every suite rustls offers is strong; they differ only in cost, and every MJPEG frame and
//! page the appliance serves is encrypted with the one chosen. With AES instructions
//! AES-128-GCM is the cheapest (10 AES rounds to AES-256's 14); without them
//! ChaCha20-Poly1305 is (AES-GCM then runs in constant-time plain code, about three times
//! slower: the Pi 4 and Zero 2 W). Browsers put AES-128-GCM first when they have AES
//! themselves, but OpenSSL's clients (curl, Python, ffmpeg and VLC reading `/stream.mjpeg`)
//! put AES-256-GCM first, and following their order would cost the board ~40 % more per byte
//! for no gain a user can see.

use tokio_rustls::rustls::{CipherSuite, SupportedCipherSuite};

/// What a suite costs to run, by its bulk cipher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bulk {
    ChaCha20,
    Aes128,
    /// AES-256-GCM, and anything not named here.
    Other,
}

fn bulk(suite: CipherSuite) -> Bulk {
    match suite {
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        | CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => Bulk::ChaCha20,
        CipherSuite::TLS13_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => Bulk::Aes128,
        _ => Bulk::Other,
    }
}

/// `suites` cheapest first on a CPU with fast AES (`chacha_first` false: AES-128-GCM, then
/// AES-256-GCM, then ChaCha20) or without it (`chacha_first`: ChaCha20, then AES-128-GCM,
/// then AES-256-GCM); otherwise in their order. Nothing is dropped.
pub fn cheapest_first(
    mut suites: Vec<SupportedCipherSuite>,
    chacha_first: bool,
) -> Vec<SupportedCipherSuite> {
    suites.sort_by_key(|s| match (bulk(s.suite()), chacha_first) {
        (Bulk::ChaCha20, true) | (Bulk::Aes128, false) => 0,
        (Bulk::Aes128, true) | (Bulk::Other, false) => 1,
        (Bulk::Other, true) | (Bulk::ChaCha20, false) => 2,
    });
    suites
}

/// Whether the client's order picks the suite rather than ours (`ours`, cheapest first):
/// only when ours starts with AES-GCM and the client's favourite among the suites we share
/// is ChaCha20. That is how a client without AES instructions says so (browsers do), and
/// AES-GCM in plain code would cost it more than ChaCha20 costs us. A board without AES
/// keeps ChaCha20 whatever the client prefers: its encryption is the scarcer CPU.
pub fn client_order_wins(offered: &[CipherSuite], ours: &[SupportedCipherSuite]) -> bool {
    let Some(our_first) = ours.first() else {
        return false;
    };
    if bulk(our_first.suite()) == Bulk::ChaCha20 {
        return false;
    }
    offered
        .iter()
        .find(|c| ours.iter().any(|o| o.suite() == **c))
        .is_some_and(|c| bulk(*c) == Bulk::ChaCha20)
}

/// OpenSSL's default TLS 1.3 order (curl, Python, ffmpeg): for tests.
#[cfg(test)]
pub(crate) const OPENSSL_ORDER: [CipherSuite; 3] = [
    CipherSuite::TLS13_AES_256_GCM_SHA384,
    CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    CipherSuite::TLS13_AES_128_GCM_SHA256,
];

/// A browser's TLS 1.3 order on a CPU without AES instructions: for tests.
#[cfg(test)]
pub(crate) const NO_AES_BROWSER_ORDER: [CipherSuite; 3] = [
    CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    CipherSuite::TLS13_AES_128_GCM_SHA256,
    CipherSuite::TLS13_AES_256_GCM_SHA384,
];

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_rustls::rustls::crypto::ring::default_provider;

    fn names(suites: &[SupportedCipherSuite]) -> Vec<CipherSuite> {
        suites.iter().map(|s| s.suite()).collect()
    }

    #[test]
    fn aes_128_leads_with_aes_and_chacha20_without() {
        let all = default_provider().cipher_suites;
        let n = all.len();
        for chacha_first in [false, true] {
            let order = names(&cheapest_first(all.clone(), chacha_first));
            assert_eq!(order.len(), n, "nothing dropped");
            let rank: Vec<Bulk> = order.iter().map(|s| bulk(*s)).collect();
            let expected = if chacha_first {
                [Bulk::ChaCha20, Bulk::Aes128, Bulk::Other]
            } else {
                [Bulk::Aes128, Bulk::Other, Bulk::ChaCha20]
            };
            let mut sorted = rank.clone();
            sorted.sort_by_key(|b| expected.iter().position(|e| e == b));
            assert_eq!(rank, sorted, "chacha_first={chacha_first}: {order:?}");
            assert_eq!(rank[0], expected[0]);
            assert!(rank.contains(&Bulk::Other), "AES-256 is still offered");
        }
        // TLS 1.3's own suite leads its bulk group (rustls picks per version anyway).
        let aes = names(&cheapest_first(all, false));
        assert_eq!(aes[0], CipherSuite::TLS13_AES_128_GCM_SHA256);
    }

    #[test]
    fn the_client_order_wins_only_for_a_chacha20_client_of_an_aes_board() {
        use CipherSuite as C;
        let aes_board = cheapest_first(default_provider().cipher_suites, false);
        let chacha_board = cheapest_first(default_provider().cipher_suites, true);
        let (openssl, no_aes_browser) = (OPENSSL_ORDER, NO_AES_BROWSER_ORDER);
        assert!(!client_order_wins(&openssl, &aes_board));
        assert!(client_order_wins(&no_aes_browser, &aes_board));
        assert!(!client_order_wins(&no_aes_browser, &chacha_board));
        assert!(!client_order_wins(&openssl, &chacha_board));
        // Suites we do not have are skipped when finding the client's favourite.
        let odd_first = [C::Unknown(0x1304), C::TLS13_CHACHA20_POLY1305_SHA256];
        assert!(client_order_wins(&odd_first, &aes_board));
        assert!(!client_order_wins(&[C::Unknown(0x1304)], &aes_board));
        assert!(!client_order_wins(&[], &aes_board));
        assert!(!client_order_wins(&openssl, &[]));
    }
}
