//! DV timings on HDMI inputs (a TC358743 behind unicam or rkcif, vivid's HDMI input): the
//! EDID write that raises hot-plug, the signal query (VIDIOC_QUERY_DV_TIMINGS: ENOLINK no
//! signal, ENOLCK no sync, ERANGE out of range), setting the timings the source sends, and
//! the source-change events that say the signal changed.
//!
//! The `v4l` crate has no DV-timings calls, so these are the raw ioctls on the device's fd,
//! with the kernel's structs from `v4l::v4l_sys`. Decoding timings and errnos is pure and
//! unit-tested below; the ioctls run against vivid on the QEMU bench (tests/hw.rs).

use std::io;
use std::mem::size_of;
use std::os::raw::{c_int, c_void};
use std::sync::Arc;

use v4l::device::Handle;
use v4l::v4l2::{self, vidioc};
use v4l::v4l_sys::{
    v4l2_dv_timings, v4l2_edid, v4l2_event, v4l2_event_subscription, v4l2_input,
    V4L2_DV_INTERLACED, V4L2_EVENT_SOURCE_CHANGE, V4L2_EVENT_SRC_CH_RESOLUTION,
    V4L2_IN_CAP_DV_TIMINGS,
};

/// `_IOC(dir, 'V', nr, size)` as the kernel's uapi headers build it.
const fn ioc(dir: u32, nr: u32, size: usize) -> vidioc::_IOC_TYPE {
    (dir << 30 | (size as u32) << 16 | (b'V' as u32) << 8 | nr) as vidioc::_IOC_TYPE
}
const READ: u32 = 2;
const WRITE: u32 = 1;
const VIDIOC_S_DV_TIMINGS: vidioc::_IOC_TYPE = ioc(READ | WRITE, 87, size_of::<v4l2_dv_timings>());
const VIDIOC_G_DV_TIMINGS: vidioc::_IOC_TYPE = ioc(READ | WRITE, 88, size_of::<v4l2_dv_timings>());
const VIDIOC_DQEVENT: vidioc::_IOC_TYPE = ioc(READ, 89, size_of::<v4l2_event>());
const VIDIOC_SUBSCRIBE_EVENT: vidioc::_IOC_TYPE =
    ioc(WRITE, 90, size_of::<v4l2_event_subscription>());
const VIDIOC_QUERY_DV_TIMINGS: vidioc::_IOC_TYPE = ioc(READ, 99, size_of::<v4l2_dv_timings>());

/// The timings of a signal, as the driver describes them (`V4L2_DV_BT_656_1120`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// Active pixels per line.
    pub width: u32,
    /// Active lines per frame.
    pub height: u32,
    /// Interlaced (each frame is two fields).
    pub interlaced: bool,
    /// Pixel clock in Hz.
    pub pixelclock: u64,
    /// Pixels per line, blanking included.
    pub htotal: u32,
    /// Lines per frame, blanking (both fields) included.
    pub vtotal: u32,
}

impl Timings {
    /// Frames per second, rounded (`None` when the driver gave no clock or totals).
    pub fn fps(&self) -> Option<u32> {
        let total = u64::from(self.htotal) * u64::from(self.vtotal);
        let fps = (self.pixelclock + total / 2).checked_div(total)?;
        u32::try_from(fps).ok().filter(|&f| f > 0)
    }

    /// `1920x1080p60`, the way v4l2-ctl and monitors name modes (an interlaced mode by its
    /// field rate: `1920x1080i60` is 30 frames a second).
    pub fn name(&self) -> String {
        let (scan, per_frame) = if self.interlaced { ('i', 2) } else { ('p', 1) };
        match self.fps() {
            Some(fps) => format!("{}x{}{scan}{}", self.width, self.height, fps * per_frame),
            None => format!("{}x{}{scan}", self.width, self.height),
        }
    }
}

/// What the input receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// A stable signal with these timings (the raw struct to set them with).
    Locked(Timings, RawTimings),
    /// No signal (ENOLINK): nothing connected, or the source is off or asleep.
    NoSignal,
    /// A signal the receiver cannot lock onto (ENOLCK).
    NoSync,
    /// Timings outside what the receiver takes (ERANGE), with what the driver saw, if it
    /// said.
    OutOfRange(Option<Timings>),
}

/// The kernel's `struct v4l2_dv_timings`, kept to hand back to `VIDIOC_S_DV_TIMINGS`.
#[derive(Clone, Copy)]
pub struct RawTimings(v4l2_dv_timings);

impl std::fmt::Debug for RawTimings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawTimings({:?})", decode(&self.0))
    }
}

impl PartialEq for RawTimings {
    fn eq(&self, other: &Self) -> bool {
        decode(&self.0) == decode(&other.0)
    }
}

impl Eq for RawTimings {}

/// Reads the BT.656/1120 timings out of the kernel's struct (the only type drivers use).
fn decode(raw: &v4l2_dv_timings) -> Option<Timings> {
    if raw.type_ != 0 {
        return None; // V4L2_DV_BT_656_1120 is 0
    }
    // SAFETY: type 0 means the union holds `bt`; every bit pattern is a valid `bt`.
    let bt = unsafe { raw.__bindgen_anon_1.bt };
    let (width, height, pixelclock) = (bt.width, bt.height, bt.pixelclock);
    let htotal = width + bt.hfrontporch + bt.hsync + bt.hbackporch;
    let interlaced = bt.interlaced == V4L2_DV_INTERLACED;
    let mut vtotal = height + bt.vfrontporch + bt.vsync + bt.vbackporch;
    if interlaced {
        vtotal += bt.il_vfrontporch + bt.il_vsync + bt.il_vbackporch;
    }
    Some(Timings {
        width,
        height,
        interlaced,
        pixelclock,
        htotal,
        vtotal,
    })
}

/// What a QUERY_DV_TIMINGS result or errno means.
fn signal_of(result: Result<v4l2_dv_timings, (i32, v4l2_dv_timings)>) -> io::Result<Signal> {
    match result {
        Ok(raw) => match decode(&raw) {
            Some(t) if t.width > 0 && t.height > 0 => Ok(Signal::Locked(t, RawTimings(raw))),
            _ => Ok(Signal::NoSync),
        },
        Err((libc::ENOLINK, _)) => Ok(Signal::NoSignal),
        Err((libc::ENOLCK, _)) => Ok(Signal::NoSync),
        Err((libc::ERANGE, raw)) => {
            let seen = decode(&raw).filter(|t| t.width > 0 && t.height > 0);
            Ok(Signal::OutOfRange(seen))
        }
        Err((errno, _)) => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// The current input of an open video node, when it takes DV timings.
pub struct DvInput {
    /// The device's handle (kept so the fd outlives every call here).
    handle: Arc<Handle>,
    fd: c_int,
    input: u32,
}

impl std::fmt::Debug for DvInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DvInput(fd {}, input {})", self.handle.fd(), self.input)
    }
}

impl DvInput {
    /// The node's current input if it has `V4L2_IN_CAP_DV_TIMINGS` (an HDMI or DVI input);
    /// `None` for webcams, UVC dongles and analog inputs.
    pub fn probe(handle: Arc<Handle>) -> io::Result<Option<DvInput>> {
        let fd = handle.fd();
        let mut index: c_int = 0;
        // SAFETY: G_INPUT writes one int into `index`, which outlives the call.
        let got = unsafe { ioctl(fd, vidioc::VIDIOC_G_INPUT, &mut index) };
        let input = match got {
            Ok(()) => u32::try_from(index).unwrap_or(0),
            Err(e) if unsupported(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        // SAFETY: all-zero is a valid v4l2_input.
        let mut info: v4l2_input = unsafe { std::mem::zeroed() };
        info.index = input;
        // SAFETY: ENUMINPUT reads `index` and fills the struct, which outlives the call.
        match unsafe { ioctl(fd, vidioc::VIDIOC_ENUMINPUT, &mut info) } {
            Ok(()) if info.capabilities & V4L2_IN_CAP_DV_TIMINGS != 0 => {
                Ok(Some(DvInput { handle, fd, input }))
            }
            Ok(()) => Ok(None),
            Err(e) if unsupported(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes `edid` unless the input already has it (the HDMI physical address aside, which
    /// receivers assign themselves); `Ok(true)` if written. Writing pulses hot-plug on a
    /// TC358743, so an unchanged EDID is never rewritten (the source would see the display
    /// unplugged and plugged again).
    pub fn write_edid(&self, edid: &[u8]) -> io::Result<bool> {
        let blocks = u32::try_from(edid.len() / 128).unwrap_or(0);
        if blocks == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty EDID"));
        }
        let mut current = vec![0u8; edid.len()];
        // SAFETY: all-zero is a valid v4l2_edid (null pointer, no blocks).
        let mut get: v4l2_edid = unsafe { std::mem::zeroed() };
        (get.pad, get.blocks, get.edid) = (self.input, blocks, current.as_mut_ptr());
        // SAFETY: G_EDID writes at most `blocks` * 128 bytes into `current`, which holds
        // exactly that many and outlives the call.
        let read = unsafe { ioctl(self.fd, vidioc::VIDIOC_G_EDID, &mut get) };
        let same = crate::media::edid::same_ignoring_physical_address(&current, edid);
        if read.is_ok() && get.blocks == blocks && same {
            return Ok(false);
        }
        let mut bytes = edid.to_vec();
        // SAFETY: as above.
        let mut set: v4l2_edid = unsafe { std::mem::zeroed() };
        (set.pad, set.blocks, set.edid) = (self.input, blocks, bytes.as_mut_ptr());
        // SAFETY: S_EDID reads `blocks` * 128 bytes from `bytes` (and may lower `blocks`
        // on E2BIG); the buffer outlives the call.
        match unsafe { ioctl(self.fd, vidioc::VIDIOC_S_EDID, &mut set) } {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::E2BIG) => Err(io::Error::new(
                e.kind(),
                format!(
                    "the input takes at most {} EDID blocks, this EDID has {blocks}",
                    set.blocks
                ),
            )),
            Err(e) => Err(e),
        }
    }

    /// The input's EDID (`None`: it has none, so a TC358743 keeps hot-plug low). Reads only.
    pub fn read_edid(&self) -> io::Result<Option<Vec<u8>>> {
        // SAFETY: all-zero is a valid v4l2_edid; with `blocks` 0 the driver only reports
        // how many blocks it holds and writes no bytes.
        let mut count: v4l2_edid = unsafe { std::mem::zeroed() };
        count.pad = self.input;
        // SAFETY: G_EDID with zero blocks writes only the struct, which outlives the call.
        unsafe { ioctl(self.fd, vidioc::VIDIOC_G_EDID, &mut count) }?;
        let blocks = count.blocks.min(crate::media::edid::MAX_BLOCKS as u32);
        if blocks == 0 {
            return Ok(None);
        }
        let mut bytes = vec![0u8; blocks as usize * crate::media::edid::BLOCK];
        // SAFETY: as above.
        let mut get: v4l2_edid = unsafe { std::mem::zeroed() };
        (get.pad, get.blocks, get.edid) = (self.input, blocks, bytes.as_mut_ptr());
        // SAFETY: G_EDID writes at most `blocks` * 128 bytes into `bytes`, which holds that
        // many and outlives the call.
        unsafe { ioctl(self.fd, vidioc::VIDIOC_G_EDID, &mut get) }?;
        bytes.truncate(get.blocks.min(blocks) as usize * crate::media::edid::BLOCK);
        Ok((!bytes.is_empty()).then_some(bytes))
    }

    /// What the input receives now.
    pub fn query(&self) -> io::Result<Signal> {
        // SAFETY: all-zero is a valid v4l2_dv_timings.
        let mut raw: v4l2_dv_timings = unsafe { std::mem::zeroed() };
        // SAFETY: QUERY_DV_TIMINGS fills the struct, which outlives the call.
        let result = unsafe { ioctl(self.fd, VIDIOC_QUERY_DV_TIMINGS, &mut raw) };
        signal_of(
            result
                .map(|()| raw)
                .map_err(|e| (e.raw_os_error().unwrap_or(0), raw)),
        )
    }

    /// Makes `timings` the input's timings (the capture format follows them). `Ok(false)`
    /// if they already were.
    pub fn apply(&self, timings: &RawTimings) -> io::Result<bool> {
        // SAFETY: all-zero is a valid v4l2_dv_timings.
        let mut current: v4l2_dv_timings = unsafe { std::mem::zeroed() };
        // SAFETY: G_DV_TIMINGS fills the struct, which outlives the call.
        let got = unsafe { ioctl(self.fd, VIDIOC_G_DV_TIMINGS, &mut current) };
        if got.is_ok() && RawTimings(current) == *timings {
            return Ok(false);
        }
        let mut set = timings.0;
        // SAFETY: S_DV_TIMINGS reads (and may adjust) the struct, which outlives the call.
        unsafe { ioctl(self.fd, VIDIOC_S_DV_TIMINGS, &mut set) }?;
        Ok(true)
    }

    /// Asks for `V4L2_EVENT_SOURCE_CHANGE` events of this input (they wake `poll` with
    /// POLLPRI).
    pub fn subscribe(&self) -> io::Result<()> {
        // SAFETY: all-zero is a valid v4l2_event_subscription.
        let mut sub: v4l2_event_subscription = unsafe { std::mem::zeroed() };
        (sub.type_, sub.id) = (V4L2_EVENT_SOURCE_CHANGE, self.input);
        // SAFETY: SUBSCRIBE_EVENT reads the struct, which outlives the call.
        unsafe { ioctl(self.fd, VIDIOC_SUBSCRIBE_EVENT, &mut sub) }
    }

    /// Takes every pending event; whether one said the source's resolution changed.
    pub fn source_changed(&self) -> io::Result<bool> {
        let mut changed = false;
        for _ in 0..64 {
            // SAFETY: all-zero is a valid v4l2_event.
            let mut ev: v4l2_event = unsafe { std::mem::zeroed() };
            // SAFETY: DQEVENT fills the struct, which outlives the call.
            match unsafe { ioctl(self.fd, VIDIOC_DQEVENT, &mut ev) } {
                Ok(()) => {
                    // SAFETY: a SOURCE_CHANGE event carries `src_change` in its union; any
                    // other event's bytes are never read as one.
                    let changes = (ev.type_ == V4L2_EVENT_SOURCE_CHANGE)
                        .then_some(unsafe { ev.u.src_change.changes });
                    changed |= changes.is_some_and(|c| c & V4L2_EVENT_SRC_CH_RESOLUTION != 0);
                    if ev.pending == 0 {
                        break;
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(changed)
    }
}

/// ENOTTY / EINVAL / ENODATA: the node has no such ioctl or no such input.
fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOTTY | libc::EINVAL | libc::ENODATA)
    )
}

/// One ioctl on `fd` with `arg` as its argument.
///
/// # Safety
/// `request` must be an ioctl whose argument is a `T` (the kernel reads and writes at most
/// `size_of::<T>()` bytes, plus any buffer `T` points to, which must be valid).
unsafe fn ioctl<T>(fd: c_int, request: vidioc::_IOC_TYPE, arg: &mut T) -> io::Result<()> {
    // SAFETY: the caller's contract above.
    unsafe { v4l2::ioctl(fd, request, arg as *mut T as *mut c_void) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use v4l::v4l_sys::v4l2_bt_timings;

    fn raw(bt: v4l2_bt_timings) -> v4l2_dv_timings {
        // SAFETY: all-zero is a valid v4l2_dv_timings.
        let mut t: v4l2_dv_timings = unsafe { std::mem::zeroed() };
        t.__bindgen_anon_1.bt = bt;
        t
    }

    fn bt(w: u32, h: u32, clock: u64, hb: [u32; 3], vb: [u32; 3]) -> v4l2_bt_timings {
        // SAFETY: all-zero is a valid v4l2_bt_timings.
        let mut bt: v4l2_bt_timings = unsafe { std::mem::zeroed() };
        (bt.width, bt.height, bt.pixelclock) = (w, h, clock);
        (bt.hfrontporch, bt.hsync, bt.hbackporch) = (hb[0], hb[1], hb[2]);
        (bt.vfrontporch, bt.vsync, bt.vbackporch) = (vb[0], vb[1], vb[2]);
        bt
    }

    #[test]
    fn ioctl_numbers_match_the_kernel_headers() {
        // x86_64 values from <linux/videodev2.h>.
        assert_eq!(size_of::<v4l2_dv_timings>(), 132);
        assert_eq!(VIDIOC_S_DV_TIMINGS, 0xC084_5657);
        assert_eq!(VIDIOC_G_DV_TIMINGS, 0xC084_5658);
        assert_eq!(VIDIOC_QUERY_DV_TIMINGS, 0x8084_5663);
        assert_eq!(VIDIOC_SUBSCRIBE_EVENT, 0x4020_565A);
        #[cfg(target_pointer_width = "64")]
        assert_eq!(VIDIOC_DQEVENT, 0x8088_5659);
    }

    #[test]
    fn timings_decode_with_rate_and_name() {
        // CEA 1920x1080p60 and 1280x720p50.
        let p60 = bt(1920, 1080, 148_500_000, [88, 44, 148], [4, 5, 36]);
        let t = decode(&raw(p60)).unwrap();
        assert_eq!((t.htotal, t.vtotal, t.fps()), (2200, 1125, Some(60)));
        assert_eq!(t.name(), "1920x1080p60");
        let p50 = bt(1280, 720, 74_250_000, [440, 40, 220], [5, 5, 20]);
        assert_eq!(decode(&raw(p50)).unwrap().name(), "1280x720p50");
        // 1080i60: two fields of 540 lines.
        let mut i60 = bt(1920, 1080, 74_250_000, [88, 44, 148], [2, 5, 15]);
        (
            i60.interlaced,
            i60.il_vfrontporch,
            i60.il_vsync,
            i60.il_vbackporch,
        ) = (V4L2_DV_INTERLACED, 2, 5, 16);
        assert_eq!(decode(&raw(i60)).unwrap().name(), "1920x1080i60");
        let no_clock = bt(640, 480, 0, [0; 3], [0; 3]);
        assert_eq!(decode(&raw(no_clock)).unwrap().name(), "640x480p");
        let mut other = raw(p60);
        other.type_ = 7;
        assert_eq!(decode(&other), None);
        assert_eq!(RawTimings(raw(p60)), RawTimings(raw(p60)));
        assert_ne!(RawTimings(raw(p60)), RawTimings(raw(p50)));
    }

    #[test]
    fn query_results_map_to_signal_states() {
        let p60 = raw(bt(1920, 1080, 148_500_000, [88, 44, 148], [4, 5, 36]));
        let zero = raw(bt(0, 0, 0, [0; 3], [0; 3]));
        assert!(matches!(signal_of(Ok(p60)), Ok(Signal::Locked(t, _)) if t.width == 1920));
        assert!(matches!(signal_of(Ok(zero)), Ok(Signal::NoSync)));
        assert!(matches!(
            signal_of(Err((libc::ENOLINK, zero))),
            Ok(Signal::NoSignal)
        ));
        assert!(matches!(
            signal_of(Err((libc::ENOLCK, zero))),
            Ok(Signal::NoSync)
        ));
        assert!(matches!(
            signal_of(Err((libc::ERANGE, zero))),
            Ok(Signal::OutOfRange(None))
        ));
        let seen = signal_of(Err((libc::ERANGE, p60)));
        assert!(matches!(seen, Ok(Signal::OutOfRange(Some(t))) if t.name() == "1920x1080p60"));
        let other = signal_of(Err((libc::EIO, zero))).unwrap_err();
        assert_eq!(other.raw_os_error(), Some(libc::EIO));
    }
}
