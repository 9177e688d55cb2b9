//! Wiring: builds every stage from the configuration and runs until Ctrl-C (or `cancel`).
//! No logic of its own beyond choosing backends.

use crate::auth::{self, Auth, PasswordOrigin};
use crate::config::{DaemonConfig, SourceChoice};
use crate::hid::{self, HidHandle};
use crate::http::{self, HttpContext, MetricsSource};
use crate::media::capture::jpeg_pattern::{JpegPattern, PatternFormat};
use crate::media::capture::pattern::TestPattern;
use crate::media::capture::{CaptureRequest, CaptureSource};
use crate::media::encode::jpeg::{JpegQuality, MjpegEncoder};
use crate::media::encode::Encoder;
use crate::media::ladder::Ladder;
use crate::media::pipeline::{Pipeline, SourceFactory};
use crate::media::settings::StreamSettings;
use crate::metrics::{histogram_text, render, sample, Histogram, Sample};
use crate::profile::{self, HwProfile};
use crate::transport::webrtc::whip::WhipPush;
use crate::transport::webrtc::{WebRtcConfig, WebRtcHost};
use anyhow::Context;
use periscope_signaling::StateSource;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A running daemon (for tests: in-process).
pub struct Running {
    /// The HTTPS address actually bound.
    pub addr: std::net::SocketAddr,
    /// Stops everything.
    pub cancel: CancellationToken,
    /// The pipeline (for stopping its threads).
    pub pipeline: Arc<std::sync::Mutex<Pipeline>>,
    server: tokio::task::JoinHandle<()>,
    /// The WHIP push task (ends after deleting its resource).
    whip: Option<tokio::task::JoinHandle<()>>,
    /// The HID worker, whose end (keys released on the target) shutdown waits for.
    hid: HidHandle,
}

impl Running {
    /// Stops the daemon and waits for its threads.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        let _ = self.server.await;
        if let Some(whip) = self.whip {
            // Bounded: the DELETE has its own 3 s limit.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), whip).await;
        }
        // Bounded: a backend write that hangs (a wedged serial chip) must not hold the exit.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.hid.stopped()).await;
        let pipeline = Arc::clone(&self.pipeline);
        let _ = tokio::task::spawn_blocking(move || {
            if let Ok(mut p) = pipeline.lock() {
                p.stop();
            }
        })
        .await;
    }
}

/// Runs the daemon until Ctrl-C (SIGINT) or SIGTERM, then shuts it down in order.
pub async fn run(cfg: DaemonConfig) -> anyhow::Result<()> {
    let running = start(cfg).await?;
    let signal = stop_signal().await?;
    tracing::info!(signal, "shutting down");
    running.shutdown().await;
    Ok(())
}

/// Waits for SIGINT or SIGTERM and names the one that came. SIGTERM is how systemd and
/// `docker stop` end a service; as PID 1 in a container a process that installs no handler
/// never sees it (the kernel drops it), and elsewhere its default action skips the shutdown
/// (keys held on the target stay down, a WHIP session is left to time out).
async fn stop_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for SIGINT").map(|()| "SIGINT"),
        _ = term.recv() => Ok("SIGTERM"),
    }
}

/// Picks the profile: a name, or `auto` (detection over `/`, as `periscope detect`).
fn pick_profile(name: &str) -> anyhow::Result<HwProfile> {
    if name != "auto" {
        return Ok(profile::load(name)?);
    }
    let (p, d) = crate::board::detect_root(Path::new("/"))?;
    tracing::info!(profile = %p.name, reasons = ?d.reasons, "profile detected");
    Ok(p)
}

/// Starts every stage; returns once the HTTPS listener is bound.
pub async fn start(cfg: DaemonConfig) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&cfg.state_dir)
        .with_context(|| format!("creating state dir {}", cfg.state_dir.display()))?;
    let (hash, origin) = auth::init_password(&cfg.state_dir, cfg.admin_password.as_deref())?;
    let viewer_hash = auth::init_viewer_password(&cfg.state_dir, cfg.viewer_password.as_deref())?;
    if viewer_hash.is_some() {
        tracing::info!(target: "http", "the view-only user \"viewer\" is enabled");
    }
    let profile = pick_profile(&cfg.profile)?;
    let cancel = CancellationToken::new();

    let (factory, source_name) = source_factory(&cfg, &profile);
    let (h264, _) = h264_encoder(
        &profile.h264_chain,
        cfg.bitrate_bps,
        cfg.fps,
        cfg.encoder_threads,
    )?;
    // The ladder's low rung: a second encoder of the full rung's kind whose bitrate follows
    // the slowest viewer on it.
    let h264_low = match cfg.adapt {
        true => low_rung(h264.name(), cfg.fps, cfg.encoder_threads)?,
        false => None,
    };
    let jpeg_quality = JpegQuality::default();
    let mjpeg: Box<dyn Encoder> = Box::new(MjpegEncoder::with_quality(jpeg_quality.clone())?);
    let pipeline = Pipeline::start_laddered(
        factory,
        h264,
        h264_low,
        mjpeg,
        crate::media::pipeline::Recovery {
            usb_id: profile.usb_id,
            ..Default::default()
        },
    )
    .context("starting the capture and encode threads")?;

    let hid_backend = hid::open(&cfg.hid, &profile, cfg.hid_options)?;
    let hid = HidHandle::spawn(hid_backend, cfg.keyboard_layout, cancel.clone());

    let rtc_cfg = webrtc_config(&cfg);
    // A start that fails after this point stops the push (and the HID worker) again.
    let stop_on_error = cancel.clone().drop_guard();
    let whip = cfg.whip.clone().map(|w| {
        WhipPush::start(
            w,
            Arc::clone(&pipeline.h264),
            rtc_cfg.bind_ips.clone(),
            cancel.clone(),
        )
    });
    let (whip, whip_task) = match whip {
        Some((push, task)) => (Some(push), Some(task)),
        None => (None, None),
    };
    let initial_bps = full_rung_bps(&cfg, &profile);
    let ladder = match &pipeline.h264_low {
        Some((low, control, _)) => Ladder::new(
            Arc::clone(&pipeline.h264),
            Arc::clone(low),
            Arc::clone(control),
            f64::from(initial_bps),
        ),
        None => Ladder::fixed(Arc::clone(&pipeline.h264)),
    };
    let webrtc =
        WebRtcHost::with_ladder(rtc_cfg, Arc::clone(&ladder), initial_bps, hid.clone()).await?;

    let mjpeg_sent = Arc::new(crate::transport::mjpeg::SendStats::default());
    let state = Arc::new(AppState {
        source: source_name,
        profile: profile.name.clone(),
        pipeline_h264: Arc::clone(&pipeline.h264),
        pipeline_mjpeg: Arc::clone(&pipeline.mjpeg),
        capture: Arc::clone(&pipeline.capture),
        h264_stats: Arc::clone(&pipeline.h264_stats),
        mjpeg_stats: Arc::clone(&pipeline.mjpeg_stats),
        mjpeg_sent: Arc::clone(&mjpeg_sent),
        h264_low: pipeline
            .h264_low
            .as_ref()
            .map(|(bus, _, stats)| (Arc::clone(stats), Arc::clone(bus))),
        ladder,
        encoder: pipeline.h264_encoder,
        hid: hid.clone(),
        webrtc: Arc::clone(&webrtc),
        whip,
    });
    let devices =
        crate::devices::Devices::new(cfg.devices.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let has_storage = profile.usb.as_ref().is_some_and(|u| {
        u.functions
            .iter()
            .any(|f| matches!(f, crate::hid::gadget::FunctionSpec::MassStorage { .. }))
    });
    let msd = crate::msd::Msd::new(
        cfg.state_dir.join("images"),
        has_storage.then(|| crate::msd::lun_dir(std::path::Path::new("/"))),
        cfg.media_max_bytes,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let ctx = HttpContext {
        auth: Arc::new(Auth::new(hash, viewer_hash)),
        host: webrtc,
        state: state.clone(),
        metrics: state,
        mjpeg: Arc::clone(&pipeline.mjpeg),
        mjpeg_sent,
        raw: Arc::clone(&pipeline.raw),
        devices,
        msd: Arc::new(msd),
        stream: Arc::new(StreamSettings::new(
            Arc::clone(&pipeline.h264_control),
            initial_bps,
            jpeg_quality.clone(),
        )),
        jpeg_quality,
        hid: hid.clone(),
    };
    let advertise: Vec<String> = cfg
        .webrtc_advertise
        .iter()
        .map(|ip| ip.to_string())
        .collect();
    let (cert, key) = http::tls::ensure_certificate(cfg.tls.clone(), &cfg.state_dir, &advertise)?;
    let tls = http::tls::server_config(&cert, &key)?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(http::tls::serve(
        listener,
        tls,
        http::routes(ctx),
        cancel.clone(),
    ));

    stop_on_error.disarm();
    announce(addr, &origin);
    Ok(Running {
        addr,
        cancel,
        pipeline: Arc::new(std::sync::Mutex::new(pipeline)),
        server,
        whip: whip_task,
        hid,
    })
}

fn announce(addr: std::net::SocketAddr, origin: &PasswordOrigin) {
    let host = if addr.ip().is_unspecified() {
        "localhost".to_string()
    } else {
        addr.ip().to_string()
    };
    tracing::info!("serving https://{host}:{}/", addr.port());
    match origin {
        PasswordOrigin::Generated(pw) => {
            println!("periscope: serving https://{host}:{}/ — log in as admin with password: {pw}", addr.port());
            println!("periscope: this password is shown once; change it with `periscope passwd`");
        }
        PasswordOrigin::Environment => println!(
            "periscope: serving https://{host}:{}/ — log in as admin with the password from PERISCOPE_ADMIN_PASSWORD",
            addr.port()
        ),
        PasswordOrigin::Stored => println!(
            "periscope: serving https://{host}:{}/ — log in as admin with your password (reset: `periscope passwd`)",
            addr.port()
        ),
    }
}

fn source_factory(cfg: &DaemonConfig, profile: &HwProfile) -> (SourceFactory, String) {
    let device = match &cfg.source {
        SourceChoice::TestPattern => None,
        SourceChoice::Device(p) => Some(p.display().to_string()),
        SourceChoice::Auto
            if profile.device != "test-pattern" && Path::new(&profile.device).exists() =>
        {
            Some(profile.device.clone())
        }
        SourceChoice::Auto => None,
    };
    let (w, h) = cfg
        .resolution
        .or(profile.resolution)
        .unwrap_or(crate::config::DEFAULT_RESOLUTION);
    let (fps, motion, format) = (cfg.fps, cfg.pattern, cfg.pattern_format);
    match device {
        None => {
            let f: SourceFactory = Box::new(move || {
                let pattern = TestPattern::new(w, h, fps)?.with_motion(motion);
                Ok(match format {
                    PatternFormat::Raw => Box::new(pattern) as Box<dyn CaptureSource>,
                    PatternFormat::Mjpeg => Box::new(JpegPattern::new(pattern)?),
                })
            });
            (f, "test-pattern".into())
        }
        Some(path) => {
            let req = CaptureRequest {
                width: cfg
                    .resolution
                    .map(|r| r.0)
                    .or(profile.resolution.map(|r| r.0)),
                height: cfg
                    .resolution
                    .map(|r| r.1)
                    .or(profile.resolution.map(|r| r.1)),
                fps: Some(fps),
                formats: profile.formats.clone(),
                edid: edid_bytes(cfg.edid.as_ref().unwrap_or(&profile.edid)),
            };
            (v4l2_factory(path.clone(), req), path)
        }
    }
}

/// The EDID bytes for an HDMI input; a file that cannot be read is logged and the device's
/// own EDID kept (a bad EDID file must not stop the appliance).
fn edid_bytes(choice: &crate::media::edid::EdidChoice) -> Option<Vec<u8>> {
    choice.load().unwrap_or_else(|e| {
        tracing::error!(target: "capture", "EDID {e}: keeping the capture device's EDID");
        None
    })
}

#[cfg(feature = "v4l2")]
fn v4l2_factory(path: String, req: CaptureRequest) -> SourceFactory {
    Box::new(move || {
        let cap = crate::media::capture::v4l2::V4l2Capture::open(&path, &req)?;
        Ok(Box::new(cap) as Box<dyn CaptureSource>)
    })
}

#[cfg(not(feature = "v4l2"))]
fn v4l2_factory(path: String, _req: CaptureRequest) -> SourceFactory {
    Box::new(move || {
        Err(crate::media::capture::CaptureError::UnsupportedFormat {
            device: path.clone(),
            reason: "built without the v4l2 feature".into(),
        })
    })
}

/// An encoder of the profile's chain that was passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedEncoder {
    /// The chain's name for it (`v4l2h264enc`).
    pub name: String,
    /// Why it was not used (the line logged).
    pub reason: String,
}

/// The H.264 encoder: the first of the profile's `encoder.h264` chain that works on this
/// machine and build, OpenH264 at the latest. Each encoder passed over is logged once with
/// why, and returned with its reason. `threads` is OpenH264's (`--encoder-threads`).
pub fn h264_encoder(
    chain: &[String],
    bitrate_bps: u32,
    fps: u32,
    threads: u16,
) -> anyhow::Result<(Box<dyn Encoder>, Vec<SkippedEncoder>)> {
    let mut skipped = Vec::new();
    for name in chain {
        if name == "openh264" {
            break;
        }
        match gst_encoder(name, bitrate_bps, fps) {
            Ok(enc) => {
                tracing::info!(target: "encode", encoder = name.as_str(), "encode: h264 through {name}");
                return Ok((enc, skipped));
            }
            Err(why) => {
                tracing::warn!(target: "encode", encoder = name.as_str(),
                    "encode: {name} skipped: {why}; next in the profile's chain");
                skipped.push(SkippedEncoder {
                    name: name.clone(),
                    reason: why,
                });
            }
        }
    }
    Ok((openh264_encoder(bitrate_bps, fps, threads)?, skipped))
}

#[cfg(feature = "gstreamer")]
fn gst_encoder(name: &str, bitrate_bps: u32, fps: u32) -> Result<Box<dyn Encoder>, String> {
    use crate::media::encode::{gst::GstH264Encoder, h264::H264Config};
    GstH264Encoder::open(
        name,
        H264Config {
            bitrate_bps,
            fps,
            skip_frames: true,
        },
    )
    .map(|e| Box::new(e) as Box<dyn Encoder>)
    .map_err(|e| e.to_string())
}

#[cfg(not(feature = "gstreamer"))]
fn gst_encoder(_name: &str, _bitrate_bps: u32, _fps: u32) -> Result<Box<dyn Encoder>, String> {
    Err("built without the gstreamer feature".into())
}

#[cfg(feature = "openh264")]
fn openh264_encoder(bitrate_bps: u32, fps: u32, threads: u16) -> anyhow::Result<Box<dyn Encoder>> {
    use crate::media::encode::h264::{H264Config, OpenH264Encoder};
    Ok(Box::new(
        OpenH264Encoder::new(H264Config {
            bitrate_bps,
            fps,
            skip_frames: true,
        })
        .threads(threads),
    ))
}

/// The ladder's low rung for a full rung encoded by `full`: OpenH264 again, or a second
/// instance of a GStreamer element whose bitrate changes while it runs (x264enc, v4l2h264enc,
/// mpph264enc). `None` (every viewer on the full rung, no adaptation) for an element that
/// cannot, or when the second instance does not open (a hardware encoder with one context):
/// the log says which.
fn low_rung(full: &str, fps: u32, threads: u16) -> anyhow::Result<Option<Box<dyn Encoder>>> {
    if full == "openh264" {
        return openh264_low_rung(fps, threads).map(Some);
    }
    if !gst_adapts(full) {
        tracing::info!(target: "encode", encoder = full,
            "no bandwidth adaptation: {full} cannot change its bitrate while it runs");
        return Ok(None);
    }
    // Bitrate 0: the ladder sets the low rung's before its first frame.
    match gst_encoder(full, 0, fps) {
        Ok(enc) => Ok(Some(enc)),
        Err(why) => {
            tracing::warn!(target: "encode", encoder = full,
                "no bandwidth adaptation: a second {full} for the low rung failed: {why}");
            Ok(None)
        }
    }
}

#[cfg(feature = "gstreamer")]
fn gst_adapts(element: &str) -> bool {
    crate::media::encode::gst::adapts(element)
}

#[cfg(not(feature = "gstreamer"))]
fn gst_adapts(_element: &str) -> bool {
    false
}

/// The ladder's low rung: OpenH264 that never skips frames (its bitrate is set by the ladder
/// before its first frame; its frame rate is the ladder's to lower).
#[cfg(feature = "openh264")]
fn openh264_low_rung(fps: u32, threads: u16) -> anyhow::Result<Box<dyn Encoder>> {
    use crate::media::encode::h264::{H264Config, OpenH264Encoder};
    Ok(Box::new(
        OpenH264Encoder::new(H264Config {
            bitrate_bps: 0,
            fps,
            skip_frames: false,
        })
        .threads(threads),
    ))
}

#[cfg(not(feature = "openh264"))]
fn openh264_low_rung(_fps: u32, _threads: u16) -> anyhow::Result<Box<dyn Encoder>> {
    anyhow::bail!("built without an H.264 encoder: enable the openh264 feature")
}

#[cfg(not(feature = "openh264"))]
fn openh264_encoder(
    _bitrate_bps: u32,
    _fps: u32,
    _threads: u16,
) -> anyhow::Result<Box<dyn Encoder>> {
    anyhow::bail!("built without an H.264 encoder: enable the openh264 feature")
}

/// The full rung's bitrate as configured (or the default for the expected picture size):
/// where each viewer's bandwidth estimate starts.
fn full_rung_bps(cfg: &DaemonConfig, profile: &HwProfile) -> u32 {
    if cfg.bitrate_bps != 0 {
        return cfg.bitrate_bps;
    }
    let (w, h) = cfg
        .resolution
        .or(profile.resolution)
        .unwrap_or(crate::config::DEFAULT_RESOLUTION);
    let bps = u64::from(w) * u64::from(h) * u64::from(cfg.fps.max(1)) / 10;
    bps.clamp(1_000_000, 12_000_000) as u32
}

fn webrtc_config(cfg: &DaemonConfig) -> WebRtcConfig {
    let ip = cfg.listen.ip();
    let bind_ips: Vec<IpAddr> = if ip.is_loopback() {
        vec![ip]
    } else if ip.is_unspecified() {
        let mut ips: Vec<IpAddr> = local_ipv4s();
        ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
        ips
    } else {
        vec![ip]
    };
    WebRtcConfig {
        udp_port: cfg.webrtc_udp_port,
        advertise: cfg.webrtc_advertise,
        bind_ips,
        max_sessions: cfg.max_sessions,
    }
}

/// Non-loopback IPv4 addresses of this machine, from /proc/net/fib_trie's local routes.
fn local_ipv4s() -> Vec<IpAddr> {
    let text = std::fs::read_to_string("/proc/net/fib_trie").unwrap_or_default();
    let mut out: Vec<IpAddr> = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in text.lines() {
        let t = line.trim_start_matches([' ', '|', '+', '-']).trim();
        if let Ok(ip) = t.parse::<Ipv4Addr>() {
            last = Some(ip);
        } else if t.contains("/32 host LOCAL") {
            if let Some(ip) = last {
                if !ip.is_loopback() && !out.contains(&IpAddr::V4(ip)) {
                    out.push(IpAddr::V4(ip));
                }
            }
        }
    }
    out
}

/// A per-stream metric: name, help, kind, and how to read it from a stream's counters.
type StreamMetric = (
    &'static str,
    &'static str,
    &'static str,
    fn(&crate::media::pipeline::EncodeStats, &crate::media::fanout::FrameBus) -> f64,
);

/// Live state for /api/state, /ws and /metrics.
struct AppState {
    source: String,
    profile: String,
    pipeline_h264: Arc<crate::media::fanout::FrameBus>,
    pipeline_mjpeg: Arc<crate::media::fanout::FrameBus>,
    capture: Arc<crate::media::pipeline::CaptureState>,
    h264_stats: Arc<crate::media::pipeline::EncodeStats>,
    mjpeg_stats: Arc<crate::media::pipeline::EncodeStats>,
    /// What the MJPEG clients were handed, and when.
    mjpeg_sent: Arc<crate::transport::mjpeg::SendStats>,
    /// The ladder's low rung, if it runs.
    h264_low: Option<(
        Arc<crate::media::pipeline::EncodeStats>,
        Arc<crate::media::fanout::FrameBus>,
    )>,
    ladder: Arc<Ladder>,
    encoder: &'static str,
    hid: HidHandle,
    webrtc: Arc<WebRtcHost>,
    whip: Option<Arc<WhipPush>>,
}

impl StateSource for AppState {
    fn state(&self) -> serde_json::Value {
        let info = self.capture.info.lock().ok().and_then(|i| i.clone());
        let error = self.capture.error.lock().ok().and_then(|e| e.clone());
        let (width, height, fps, format) = match &info {
            Some(i) => (i.width, i.height, i.fps, i.format.name()),
            None => (0, 0, 0, ""),
        };
        serde_json::json!({
            "source": self.source,
            "width": width,
            "height": height,
            "fps": fps,
            "format": format,
            "codec": "h264",
            "encoder": self.encoder,
            "viewers": self.pipeline_h264.viewers() + self.h264_low.as_ref().map_or(0, |(_, b)| b.viewers()),
            "ladder": {
                "low_rung": self.h264_low.is_some(),
                "low_viewers": self.ladder.low_viewers(),
                "low_target_bps": self.ladder.low_target_bps(),
                "full_bps": self.pipeline_h264.rate_bps() as u64,
            },
            "mjpeg_viewers": self.pipeline_mjpeg.viewers(),
            "hid": self.hid.backend_name(),
            "keyboard_layout": self.hid.layout().name(),
            "hid_target": self.hid.stats.target_name(),
            "profile": self.profile,
            "capture_error": error,
            "capture_state": self.capture.phase.lock().map_or("unknown", |p| p.name()),
            "whip": self.whip.as_ref().map(|w| w.state_json()),
        })
    }
}

impl MetricsSource for AppState {
    fn metrics(&self) -> String {
        let r = Ordering::Relaxed;
        let mut s: Vec<Sample> = vec![sample(
            "capture_frames_total",
            "Frames captured.",
            "counter",
            self.capture.frames.load(r) as f64,
        )];
        let c = &self.capture;
        for (name, help, v) in [
            (
                "capture_stalls_total",
                "Capture stalls noticed (no frame, errors, device gone).",
                &c.stalls,
            ),
            (
                "capture_reopens_total",
                "Attempts to reopen the capture device after a stall.",
                &c.reopens,
            ),
            (
                "capture_reopen_failures_total",
                "Reopen attempts that failed.",
                &c.reopen_failures,
            ),
            (
                "capture_usb_resets_total",
                "USB resets of the capture device.",
                &c.usb_resets,
            ),
            (
                "capture_usb_reset_failures_total",
                "USB resets that failed.",
                &c.usb_reset_failures,
            ),
            (
                "capture_recoveries_total",
                "Capture outages that ended with frames flowing again.",
                &c.recoveries,
            ),
            (
                "capture_source_changes_total",
                "Capture restarts because the HDMI signal changed (timings, lost, back).",
                &c.source_changes,
            ),
        ] {
            s.push(sample(name, help, "counter", v.load(r) as f64));
        }
        let mut streams = vec![
            ("h264", &self.h264_stats, &self.pipeline_h264),
            ("mjpeg", &self.mjpeg_stats, &self.pipeline_mjpeg),
        ];
        if let Some((stats, bus)) = &self.h264_low {
            streams.push(("h264_low", stats, bus));
        }
        let per_stream: [StreamMetric; 12] = [
            (
                "encoded_frames_total",
                "Frames encoded.",
                "counter",
                |e, _| e.frames.load(Ordering::Relaxed) as f64,
            ),
            (
                "encode_skipped_total",
                "Frames skipped by rate control.",
                "counter",
                |e, _| e.skipped.load(Ordering::Relaxed) as f64,
            ),
            (
                "encoder_releases_total",
                "Times the encoder let go of its memory after 10 s without viewers.",
                "counter",
                |e, _| e.releases.load(Ordering::Relaxed) as f64,
            ),
            (
                "keyframes_total",
                "Keyframes encoded.",
                "counter",
                |e, _| e.keyframes.load(Ordering::Relaxed) as f64,
            ),
            (
                "keyframe_sequence_last",
                "Capture sequence number (the test pattern's strip counter) of the last keyframe.",
                "gauge",
                |e, _| e.keyframe_sequence_last.load(Ordering::Relaxed) as f64,
            ),
            (
                "keyframe_encode_seconds_last",
                "Encode time of the last keyframe.",
                "gauge",
                |e, _| e.keyframe_encode_us_last.load(Ordering::Relaxed) as f64 / 1e6,
            ),
            (
                "encode_seconds_last",
                "Encode time of the last frame.",
                "gauge",
                |e, _| e.encode_us_last.load(Ordering::Relaxed) as f64 / 1e6,
            ),
            (
                "capture_to_publish_seconds_last",
                "Capture to fan-out time of the last frame.",
                "gauge",
                |e, _| e.pipeline_us_last.load(Ordering::Relaxed) as f64 / 1e6,
            ),
            ("viewers", "Viewers subscribed.", "gauge", |_, b| {
                b.viewers() as f64
            }),
            (
                "stream_bitrate_bps",
                "Bits per second the stream sends while it has viewers (1 s windows, smoothed).",
                "gauge",
                |_, b| b.rate_bps(),
            ),
            (
                "viewer_dropped_frames_total",
                "Frames viewers lost.",
                "counter",
                |_, b| b.stats.dropped.load(Ordering::Relaxed) as f64,
            ),
            (
                "keyframe_requests_total",
                "Keyframe requests before coalescing.",
                "counter",
                |_, b| b.stats.keyframe_requests.load(Ordering::Relaxed) as f64,
            ),
        ];
        for (name, help, kind, get) in per_stream {
            for (stream, stats, bus) in &streams {
                s.push(Sample {
                    name,
                    help,
                    kind,
                    labels: vec![("stream", stream.to_string())],
                    value: get(stats, bus),
                });
            }
        }
        let l = &self.ladder;
        for (name, help, kind, v) in [
            (
                "ladder_moves_down_total",
                "WebRTC viewers moved to the low rung (their link could not carry the full one).",
                "counter",
                l.stats.moves_down.load(r) as f64,
            ),
            (
                "ladder_moves_up_total",
                "WebRTC viewers moved back to the full rung.",
                "counter",
                l.stats.moves_up.load(r) as f64,
            ),
            (
                "ladder_low_viewers",
                "WebRTC viewers on the low rung.",
                "gauge",
                l.low_viewers() as f64,
            ),
            (
                "ladder_low_target_bps",
                "The low rung's target bitrate (0: idle).",
                "gauge",
                l.low_target_bps() as f64,
            ),
        ] {
            s.push(sample(name, help, kind, v));
        }
        let h = &self.hid.stats;
        s.push(sample(
            "hid_reports_total",
            "HID reports delivered.",
            "counter",
            h.reports.load(r) as f64,
        ));
        s.push(sample(
            "hid_errors_total",
            "HID reports that failed.",
            "counter",
            h.errors.load(r) as f64,
        ));
        s.push(sample(
            "hid_release_all_total",
            "Release-alls performed.",
            "counter",
            h.release_alls.load(r) as f64,
        ));
        s.push(sample(
            "hid_jiggles_total",
            "Nudges the mouse jiggler gave.",
            "counter",
            h.jiggles.load(r) as f64,
        ));
        for (name, help, v) in [
            (
                "hid_reconnects_total",
                "Times the link to the target came back (host re-enumerated, chip reset).",
                &h.reconnects,
            ),
            (
                "hid_typed_chars_total",
                "Characters typed from text messages.",
                &h.typed_chars,
            ),
            (
                "hid_rate_limited_total",
                "Input messages dropped by the per-session rate limit.",
                &h.rate_limited,
            ),
            (
                "hid_dropped_moves_total",
                "Mouse moves dropped because the HID queue was full.",
                &h.dropped_moves,
            ),
        ] {
            s.push(sample(name, help, "counter", v.load(r) as f64));
        }
        let w = self.webrtc.stats();
        s.push(sample(
            "webrtc_sessions",
            "WebRTC sessions open.",
            "gauge",
            w.sessions as f64,
        ));
        s.push(sample(
            "webrtc_frames_sent_total",
            "Access units handed to peer connections.",
            "counter",
            w.frames_sent as f64,
        ));
        s.push(sample(
            "webrtc_frames_failed_total",
            "Access units a peer connection refused.",
            "counter",
            w.frames_failed as f64,
        ));
        s.push(sample(
            "webrtc_packets_sent_total",
            "UDP datagrams sent.",
            "counter",
            w.packets_sent as f64,
        ));
        s.push(sample(
            "webrtc_bytes_sent_total",
            "UDP payload bytes sent.",
            "counter",
            w.bytes_sent as f64,
        ));
        s.push(sample(
            "webrtc_keyframe_requests_total",
            "PLI/FIR received from viewers.",
            "counter",
            w.keyframe_requests as f64,
        ));
        s.push(sample(
            "webrtc_datagrams_dropped_total",
            "Datagrams the shared UDP port dropped.",
            "counter",
            w.datagrams_dropped as f64,
        ));
        s.push(sample(
            "webrtc_send_seconds_last",
            "Frame encoded to its last packet handed to the socket, last frame.",
            "gauge",
            w.last_latency_us as f64 / 1e6,
        ));
        let m = &self.mjpeg_sent;
        s.push(sample(
            "mjpeg_frames_sent_total",
            "JPEGs taken by MJPEG clients' connections.",
            "counter",
            m.frames_sent.load(r) as f64,
        ));
        s.push(sample(
            "mjpeg_send_seconds_last",
            "JPEG published to taken by its client's connection, last JPEG.",
            "gauge",
            m.last_send_us.load(r) as f64 / 1e6,
        ));
        if let Some(whip) = &self.whip {
            let w = whip.stats();
            for (name, help, kind, value) in [
                (
                    "whip_connected",
                    "1 while the WHIP push is connected.",
                    "gauge",
                    w.connected as u64,
                ),
                (
                    "whip_attempts_total",
                    "WHIP push attempts (offers POSTed).",
                    "counter",
                    w.attempts,
                ),
                (
                    "whip_connects_total",
                    "WHIP pushes that connected.",
                    "counter",
                    w.connects,
                ),
                (
                    "whip_failures_total",
                    "WHIP attempts that failed or pushes lost.",
                    "counter",
                    w.failures,
                ),
                (
                    "whip_frames_sent_total",
                    "Access units pushed by WHIP.",
                    "counter",
                    w.frames_sent,
                ),
                (
                    "whip_frames_failed_total",
                    "Access units the WHIP peer connection refused.",
                    "counter",
                    w.frames_failed,
                ),
                (
                    "whip_keyframe_requests_total",
                    "PLI/FIR received from the WHIP server.",
                    "counter",
                    w.keyframe_requests,
                ),
                (
                    "whip_packets_sent_total",
                    "UDP datagrams sent by the WHIP push.",
                    "counter",
                    w.packets_sent,
                ),
                (
                    "whip_bytes_sent_total",
                    "UDP payload bytes sent by the WHIP push.",
                    "counter",
                    w.bytes_sent,
                ),
            ] {
                s.push(sample(name, help, kind, value as f64));
            }
        }
        let mut text = render(&s);
        let stream_series = |get: fn(&crate::media::pipeline::EncodeStats) -> &Histogram| {
            streams
                .iter()
                .map(|(name, stats, _)| (vec![("stream", name.to_string())], get(stats)))
                .collect::<Vec<_>>()
        };
        text += &histogram_text(
            "encode_seconds",
            "Encode time per frame.",
            &stream_series(|e| &e.encode_seconds),
        );
        text += &histogram_text(
            "capture_to_publish_seconds",
            "Capture to fan-out per frame (server-added latency up to the viewers' queues).",
            &stream_series(|e| &e.capture_to_publish_seconds),
        );
        let (send, capture_to_sent) = self.webrtc.histograms();
        text += &histogram_text(
            "webrtc_send_seconds",
            "Frame encoded to its last RTP packet handed to the socket, every frame to every viewer.",
            &[(Vec::new(), send)],
        );
        text += &histogram_text(
            "webrtc_capture_to_sent_seconds",
            "Capture to the frame's last RTP packet handed to the socket, every frame to every viewer.",
            &[(Vec::new(), capture_to_sent)],
        );
        text += &histogram_text(
            "mjpeg_send_seconds",
            "JPEG published (encoded, or passed through) to taken by the client's connection, every JPEG to every client.",
            &[(Vec::new(), &self.mjpeg_sent.send_seconds)],
        );
        text += &histogram_text(
            "mjpeg_capture_to_sent_seconds",
            "Capture to the JPEG taken by the client's connection, every JPEG to every client (MJPEG passthrough: the server-added latency).",
            &[(Vec::new(), &self.mjpeg_sent.capture_to_sent_seconds)],
        );
        text
    }
}
