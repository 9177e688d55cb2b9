//! What the user set: command-line flags (contracts.md names) layered over an optional TOML
//! config file whose keys are the flags' names in snake_case. Flags win. `validate` turns the
//! merged values into a [`DaemonConfig`] or an error naming the key and the allowed values.

use crate::devices::config::{AtxConfig, ButtonConfig, DevicesConfig, DriverConfig, WolConfig};
use crate::hid::{HidChoice, HidOptions};
use crate::input::layout::Layout;
use crate::media::capture::jpeg_pattern::PatternFormat;
use crate::media::capture::pattern::Motion;
use crate::media::edid::EdidChoice;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Default HTTPS address.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8443";
/// Default picture size for the test pattern.
pub const DEFAULT_RESOLUTION: (u32, u32) = (1280, 720);
/// Default frame rate.
pub const DEFAULT_FPS: u32 = 30;

/// Where frames come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceChoice {
    /// The profile's capture device if present, else the test pattern.
    Auto,
    /// The built-in test pattern.
    TestPattern,
    /// A V4L2 device node.
    Device(PathBuf),
}

/// Settings every flag can also take from the config file.
#[derive(Debug, Clone, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// HTTPS listen address (default 0.0.0.0:8443).
    #[arg(long)]
    pub listen: Option<String>,
    /// auto | test-pattern | /dev/videoN.
    #[arg(long)]
    pub source: Option<String>,
    /// Capture size WxH (default 1280x720 for the test pattern; device default otherwise).
    #[arg(long)]
    pub resolution: Option<String>,
    /// Frames per second (default 30).
    #[arg(long)]
    pub fps: Option<u32>,
    /// What moves in the test pattern: desktop (default) or busy (adds a window of moving,
    /// grainy video: a high-bitrate source).
    #[arg(long)]
    pub pattern: Option<String>,
    /// What the test pattern hands on: raw (default; I420, as an HDMI-to-CSI bridge delivers)
    /// or mjpeg (each frame compressed to JPEG first, as a USB HDMI dongle delivers; the
    /// MJPEG stream then passes it through).
    #[arg(long)]
    pub pattern_format: Option<String>,
    /// Adapt each WebRTC viewer to its link (TWCC + GCC, the shared low rung): true (default)
    /// or false.
    #[arg(long)]
    pub adapt: Option<bool>,
    /// auto | none | otg | ch9329:/dev/ttyX | record:FILE.
    #[arg(long)]
    pub hid: Option<String>,
    /// Serial speed the CH9329 chip is set to (default 9600, the chip's factory setting).
    #[arg(long)]
    pub hid_baud: Option<u32>,
    /// Keyboard layout the target host uses, for typed text: us, uk, de or fr (default us).
    #[arg(long)]
    pub keyboard_layout: Option<String>,
    /// Hardware profile name, or auto.
    #[arg(long)]
    pub profile: Option<String>,
    /// One UDP port for all WebRTC media (default: ephemeral ports).
    #[arg(long)]
    pub webrtc_udp_port: Option<u16>,
    /// Address put in ICE candidates (NAT, port forwarding).
    #[arg(long)]
    pub webrtc_advertise: Option<String>,
    /// State directory (certificate, password hash, uploads).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// TLS certificate (PEM). Default: a self-signed one generated into the state directory.
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM), with --tls-cert.
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// H.264 target bitrate in kbit/s (default: by picture size).
    #[arg(long)]
    pub bitrate_kbps: Option<u32>,
    /// OpenH264 threads: 1 (default) encodes each picture as one slice on one thread; N > 1
    /// cuts it into N slices encoded on N threads (keyframes and frames come out sooner, for
    /// more CPU and ~12 MB more memory per slice at 1080p); 0: one per core, at most 4.
    #[arg(long)]
    pub encoder_threads: Option<u16>,
    /// Most WebRTC sessions at once (default 16).
    #[arg(long)]
    pub max_sessions: Option<usize>,
    /// EDID for an HDMI capture input: default, 1080p50, 1080p60, 720p60, none (keep the
    /// device's) or an EDID file (binary or hex). Default: the profile's (1080p50).
    #[arg(long)]
    pub edid: Option<String>,
    /// Push the H.264 stream by WHIP (RFC 9725) to this endpoint of a media server or SFU
    /// (http:// or https://).
    #[arg(long)]
    pub whip_url: Option<String>,
    /// Bearer token for --whip-url (also from PERISCOPE_WHIP_TOKEN).
    #[arg(long, env = "PERISCOPE_WHIP_TOKEN", hide_env_values = true)]
    pub whip_token: Option<String>,
    /// Largest virtual-media image accepted, in MiB (default 8192).
    #[arg(long)]
    pub media_max_mb: Option<u64>,
    /// `[drivers.NAME]` (config file only): GPIO chips, USB HID relays, commands.
    #[arg(skip)]
    #[serde(default)]
    pub drivers: BTreeMap<String, DriverConfig>,
    /// `[atx]` (config file only): power, reset and the power LED.
    #[arg(skip)]
    pub atx: Option<AtxConfig>,
    /// `[[buttons]]` (config file only): the UI's button table.
    #[arg(skip)]
    #[serde(default)]
    pub buttons: Vec<ButtonConfig>,
    /// `[wol]` (config file only): Wake-on-LAN.
    #[arg(skip)]
    pub wol: Option<WolConfig>,
}

impl Settings {
    /// `self` where set, else `file`.
    pub fn over(self, file: Settings) -> Settings {
        Settings {
            listen: self.listen.or(file.listen),
            source: self.source.or(file.source),
            resolution: self.resolution.or(file.resolution),
            fps: self.fps.or(file.fps),
            pattern: self.pattern.or(file.pattern),
            pattern_format: self.pattern_format.or(file.pattern_format),
            adapt: self.adapt.or(file.adapt),
            hid: self.hid.or(file.hid),
            hid_baud: self.hid_baud.or(file.hid_baud),
            keyboard_layout: self.keyboard_layout.or(file.keyboard_layout),
            profile: self.profile.or(file.profile),
            webrtc_udp_port: self.webrtc_udp_port.or(file.webrtc_udp_port),
            webrtc_advertise: self.webrtc_advertise.or(file.webrtc_advertise),
            state_dir: self.state_dir.or(file.state_dir),
            tls_cert: self.tls_cert.or(file.tls_cert),
            tls_key: self.tls_key.or(file.tls_key),
            bitrate_kbps: self.bitrate_kbps.or(file.bitrate_kbps),
            encoder_threads: self.encoder_threads.or(file.encoder_threads),
            max_sessions: self.max_sessions.or(file.max_sessions),
            edid: self.edid.or(file.edid),
            whip_url: self.whip_url.or(file.whip_url),
            whip_token: self.whip_token.or(file.whip_token),
            media_max_mb: self.media_max_mb.or(file.media_max_mb),
            drivers: file.drivers,
            atx: file.atx,
            buttons: file.buttons,
            wol: file.wol,
        }
    }
}

/// A config value the daemon cannot use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{key} = {value:?}: {expected}")]
pub struct ConfigError {
    /// The key (flag name in snake_case; a dotted path in the device sections).
    pub key: String,
    /// The value given.
    pub value: String,
    /// What is allowed.
    pub expected: String,
}

fn bad(key: impl ToString, value: impl ToString, expected: impl ToString) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

/// The validated configuration the daemon runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// Largest virtual-media image (bytes).
    pub media_max_bytes: u64,
    /// Drivers, ATX, buttons and Wake-on-LAN (validated).
    pub devices: DevicesConfig,
    /// HTTPS address.
    pub listen: SocketAddr,
    /// Frame source.
    pub source: SourceChoice,
    /// Wanted size, if set.
    pub resolution: Option<(u32, u32)>,
    /// Wanted frame rate.
    pub fps: u32,
    /// What moves in the test pattern.
    pub pattern: Motion,
    /// What the test pattern hands on (raw frames or JPEGs).
    pub pattern_format: PatternFormat,
    /// Whether WebRTC viewers adapt to their links (the low rung).
    pub adapt: bool,
    /// HID backend.
    pub hid: HidChoice,
    /// Backend options (CH9329 baud).
    pub hid_options: HidOptions,
    /// Layout for typed text when a message names none.
    pub keyboard_layout: Layout,
    /// Profile name or "auto".
    pub profile: String,
    /// Shared WebRTC UDP port.
    pub webrtc_udp_port: Option<u16>,
    /// Advertised candidate address.
    pub webrtc_advertise: Option<IpAddr>,
    /// State directory.
    pub state_dir: PathBuf,
    /// Certificate and key, if configured.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// H.264 bitrate in bit/s (0: by picture size).
    pub bitrate_bps: u32,
    /// OpenH264 threads (1: one slice, one thread; 0: one per core).
    pub encoder_threads: u16,
    /// Most WebRTC sessions.
    pub max_sessions: usize,
    /// The EDID choice for an HDMI input (`None`: the profile's).
    pub edid: Option<EdidChoice>,
    /// The admin password to set at start (from `PERISCOPE_ADMIN_PASSWORD`; never a flag or
    /// a file key, so it stays out of process listings and config files).
    pub admin_password: Option<String>,
    /// The view-only user's password to set at start (from `PERISCOPE_VIEWER_PASSWORD`).
    pub viewer_password: Option<String>,
    /// The WHIP push (`--whip-url`, `--whip-token`), if set.
    pub whip: Option<crate::transport::webrtc::whip::WhipConfig>,
}

/// Parses `WxH`.
pub fn parse_resolution(s: &str) -> Result<(u32, u32), ConfigError> {
    let expected = "WxH with 64..=7680 by 64..=4320, e.g. 1280x720";
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| bad("resolution", s, expected))?;
    let (w, h): (u32, u32) = match (w.trim().parse(), h.trim().parse()) {
        (Ok(w), Ok(h)) => (w, h),
        _ => return Err(bad("resolution", s, expected)),
    };
    if !(64..=7680).contains(&w) || !(64..=4320).contains(&h) {
        return Err(bad("resolution", s, expected));
    }
    Ok((w, h))
}

/// The default state directory: /var/lib/periscope as root, else $XDG_STATE_HOME/periscope
/// (or ~/.local/state/periscope).
pub fn default_state_dir(
    is_root: bool,
    xdg_state: Option<PathBuf>,
    home: Option<PathBuf>,
) -> PathBuf {
    if is_root {
        return PathBuf::from("/var/lib/periscope");
    }
    match (xdg_state, home) {
        (Some(x), _) if x.is_absolute() => x.join("periscope"),
        (_, Some(h)) => h.join(".local/state/periscope"),
        _ => PathBuf::from(".periscope-state"),
    }
}

impl Settings {
    /// Checks every value; `state_dir_default` is used when none is set.
    pub fn validate(self, state_dir_default: PathBuf) -> Result<DaemonConfig, ConfigError> {
        let listen_s = self.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen = listen_s
            .parse()
            .map_err(|_| bad("listen", &listen_s, "ADDR:PORT, e.g. 0.0.0.0:8443"))?;
        let source = match self.source.as_deref().unwrap_or("auto") {
            "auto" => SourceChoice::Auto,
            "test-pattern" => SourceChoice::TestPattern,
            p if p.starts_with("/dev/") => SourceChoice::Device(p.into()),
            other => return Err(bad("source", other, "auto, test-pattern or /dev/videoN")),
        };
        let resolution = self
            .resolution
            .as_deref()
            .map(parse_resolution)
            .transpose()?;
        let fps = self.fps.unwrap_or(DEFAULT_FPS);
        if !(1..=120).contains(&fps) {
            return Err(bad("fps", fps, "1..=120"));
        }
        let pattern = match self.pattern {
            None => Motion::default(),
            Some(s) => s.parse().map_err(|e| bad("pattern", &s, e))?,
        };
        let pattern_format = match self.pattern_format {
            None => PatternFormat::default(),
            Some(s) => s.parse().map_err(|e| bad("pattern_format", &s, e))?,
        };
        let hid_s = self.hid.unwrap_or_else(|| "auto".into());
        let hid = hid_s
            .parse::<HidChoice>()
            .map_err(|e| bad("hid", &hid_s, e))?;
        let baud = self.hid_baud.unwrap_or(crate::hid::ch9329::DEFAULT_BAUD);
        if !crate::hid::ch9329::BAUD_RATES.contains(&baud) {
            return Err(bad(
                "hid_baud",
                baud,
                format!("one of {:?}", crate::hid::ch9329::BAUD_RATES),
            ));
        }
        let keyboard_layout = match self.keyboard_layout {
            None => Layout::default(),
            Some(s) => s.parse().map_err(|e| bad("keyboard_layout", &s, e))?,
        };
        let webrtc_advertise = match self.webrtc_advertise {
            None => None,
            Some(s) => Some(
                s.parse()
                    .map_err(|_| bad("webrtc_advertise", &s, "an IP address"))?,
            ),
        };
        if self.webrtc_udp_port == Some(0) {
            return Err(bad("webrtc_udp_port", 0, "1..=65535"));
        }
        let tls = match (self.tls_cert, self.tls_key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            (Some(c), None) => {
                return Err(bad(
                    "tls_key",
                    "",
                    format!("needed with tls_cert {}", c.display()),
                ))
            }
            (None, Some(k)) => {
                return Err(bad(
                    "tls_cert",
                    "",
                    format!("needed with tls_key {}", k.display()),
                ))
            }
        };
        let bitrate_kbps = self.bitrate_kbps.unwrap_or(0);
        if bitrate_kbps != 0 && !(100..=50_000).contains(&bitrate_kbps) {
            return Err(bad("bitrate_kbps", bitrate_kbps, "100..=50000"));
        }
        let encoder_threads = self.encoder_threads.unwrap_or(1);
        if encoder_threads > 8 {
            return Err(bad("encoder_threads", encoder_threads, "0..=8"));
        }
        let max_sessions = self.max_sessions.unwrap_or(16);
        if !(1..=256).contains(&max_sessions) {
            return Err(bad("max_sessions", max_sessions, "1..=256"));
        }
        let edid = match self.edid {
            None => None,
            Some(s) => Some(EdidChoice::parse(&s).map_err(|e| bad("edid", &s, e))?),
        };
        let whip = match (self.whip_url, self.whip_token) {
            (None, None) => None,
            (None, Some(_)) => return Err(bad("whip_token", "…", "needs whip_url")),
            (Some(url), token) => {
                let ok = reqwest::Url::parse(&url)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
                if !ok {
                    let shown = crate::transport::webrtc::whip::redact(&url);
                    return Err(bad("whip_url", shown, "an http:// or https:// URL"));
                }
                Some(crate::transport::webrtc::whip::WhipConfig {
                    url,
                    token: token.filter(|t| !t.is_empty()),
                })
            }
        };
        let devices = DevicesConfig {
            drivers: self.drivers,
            atx: self.atx,
            buttons: self.buttons,
            wol: self.wol,
        };
        devices.validate().map_err(|e| bad(&e.key, "…", e.why))?;
        let media_max_mb = self
            .media_max_mb
            .unwrap_or(crate::msd::DEFAULT_MAX_BYTES >> 20);
        if !(1..=1 << 20).contains(&media_max_mb) {
            return Err(bad("media_max_mb", media_max_mb, "1..=1048576"));
        }
        Ok(DaemonConfig {
            media_max_bytes: media_max_mb << 20,
            devices,
            whip,
            edid,
            listen,
            source,
            resolution,
            fps,
            pattern,
            pattern_format,
            adapt: self.adapt.unwrap_or(true),
            hid,
            hid_options: HidOptions { baud },
            keyboard_layout,
            profile: self.profile.unwrap_or_else(|| "auto".into()),
            webrtc_udp_port: self.webrtc_udp_port,
            webrtc_advertise,
            state_dir: self.state_dir.unwrap_or(state_dir_default),
            tls,
            bitrate_bps: bitrate_kbps * 1000,
            encoder_threads,
            max_sessions,
            admin_password: None,
            viewer_password: None,
        })
    }
}

/// Reads a TOML config file.
pub fn load_file(path: &std::path::Path) -> Result<Settings, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("config {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("config {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: Settings) -> Result<DaemonConfig, ConfigError> {
        s.validate(PathBuf::from("/tmp/x"))
    }

    #[test]
    fn defaults() {
        let c = v(Settings::default()).unwrap();
        assert_eq!(c.listen, "0.0.0.0:8443".parse::<SocketAddr>().unwrap());
        assert_eq!(c.source, SourceChoice::Auto);
        assert_eq!(c.fps, 30);
        assert_eq!(c.hid, HidChoice::Auto);
        assert_eq!(c.state_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.encoder_threads, 1, "one slice, one thread");
    }

    #[test]
    fn errors_name_the_key_and_the_allowed_values() {
        let e = v(Settings {
            fps: Some(240),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "fps = \"240\": 1..=120");
        let e = v(Settings {
            resolution: Some("big".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.key, "resolution");
        let e = v(Settings {
            source: Some("camera".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "source = \"camera\": auto, test-pattern or /dev/videoN"
        );
        let e = v(Settings {
            hid: Some("usb".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.key, "hid");
        let e = v(Settings {
            encoder_threads: Some(9),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "encoder_threads = \"9\": 0..=8");
        let file: Settings = toml::from_str("encoder_threads = 0\n").unwrap();
        assert_eq!(
            v(Settings::default().over(file)).unwrap().encoder_threads,
            0
        );
        let e = v(Settings {
            tls_cert: Some("/c".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.key, "tls_key");
        let e = v(Settings {
            whip_url: Some("ftp://x/whip".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.key, "whip_url");
        let e = v(Settings {
            whip_token: Some("secret".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.key, "whip_token");
        assert!(
            !e.to_string().contains("secret"),
            "the token is never echoed"
        );
        let c = v(Settings {
            whip_url: Some("https://sfu.example/whip/room".into()),
            whip_token: Some("t".into()),
            ..Default::default()
        })
        .unwrap();
        let whip = c.whip.expect("whip set");
        assert_eq!(whip.token.as_deref(), Some("t"));
    }

    #[test]
    fn flags_win_over_the_file() {
        let file: Settings = toml::from_str("fps = 15\nlisten = \"127.0.0.1:9000\"\n").unwrap();
        let flags = Settings {
            fps: Some(60),
            ..Default::default()
        };
        let c = v(flags.over(file)).unwrap();
        assert_eq!(c.fps, 60);
        assert_eq!(c.listen, "127.0.0.1:9000".parse::<SocketAddr>().unwrap());
        assert!(
            toml::from_str::<Settings>("fsp = 1").is_err(),
            "unknown keys are refused"
        );
    }

    #[test]
    fn the_pattern_hands_on_raw_frames_unless_told_mjpeg() {
        assert_eq!(
            v(Settings::default()).unwrap().pattern_format,
            PatternFormat::Raw
        );
        let file: Settings = toml::from_str("pattern_format = \"mjpeg\"\n").unwrap();
        let c = v(Settings::default().over(file)).unwrap();
        assert_eq!(c.pattern_format, PatternFormat::Mjpeg);
        let e = v(Settings {
            pattern_format: Some("h264".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "pattern_format = \"h264\": \"h264\": raw or mjpeg"
        );
    }

    #[test]
    fn resolution_and_state_dir() {
        assert_eq!(parse_resolution("1920x1080"), Ok((1920, 1080)));
        assert!(parse_resolution("10x10").is_err());
        assert_eq!(
            default_state_dir(true, None, None),
            PathBuf::from("/var/lib/periscope")
        );
        assert_eq!(
            default_state_dir(false, Some("/s".into()), None),
            PathBuf::from("/s/periscope")
        );
        assert_eq!(
            default_state_dir(false, None, Some("/h".into())),
            PathBuf::from("/h/.local/state/periscope")
        );
    }
}
