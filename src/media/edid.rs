//! EDIDs for HDMI capture bridges (TC358743 and its kind): the built-in ones periscope writes
//! at start, and reading a user's EDID file.
//!
//! A TC358743 keeps hot-plug low until an EDID is written, so the source sees no display at
//! all; the EDID also decides which modes the source may send. The built-in EDIDs ([`BUILTIN`])
//! announce a display named "periscope" whose largest mode is 1080p50 (the default), 1080p60
//! or 720p60, with the HDMI vendor block (physical address 1.0.0.0) so sources send HDMI, not
//! DVI. They are generated here from the standard CEA-861 timings, not copied from anyone.
//!
//! Pure: names and bytes in, bytes out. Writing to the device is `capture::dv`.

use std::path::Path;

/// Bytes per EDID block.
pub const BLOCK: usize = 128;
/// Most blocks an EDID file may hold (capture bridges take 2 to 8).
pub const MAX_BLOCKS: usize = 8;

/// What the user picked, in the profile (`capture.edid`), the config file or `--edid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdidChoice {
    /// A built-in EDID by name (one of [`BUILTIN`]).
    Builtin(&'static str),
    /// A file: raw bytes or hex text (what `v4l2-ctl --set-edid` and `edid-decode` read).
    File(String),
    /// Leave the device's EDID alone.
    Keep,
}

/// Names of the built-in EDIDs, the default first: `1080p50` suits a TC358743 on two CSI-2
/// lanes (Raspberry Pi 4, Zero 2 W), `1080p60` one on four (Compute Module 4 with `4lane=1`),
/// `720p60` a board whose encoder cannot take 1080p.
pub const BUILTIN: &[&str] = &["1080p50", "1080p60", "720p60"];

impl EdidChoice {
    /// Parses a setting: `default`, a built-in name, `none`/`keep`, or a path (with a `/`).
    pub fn parse(s: &str) -> Result<EdidChoice, String> {
        let allowed = || {
            format!(
                "expected default, {}, none, or a path to an EDID file",
                BUILTIN.join(", ")
            )
        };
        match s {
            "" => Err(allowed()),
            "default" => Ok(EdidChoice::Builtin(BUILTIN[0])),
            "none" | "keep" => Ok(EdidChoice::Keep),
            _ => match BUILTIN.iter().find(|&&b| b == s) {
                Some(name) => Ok(EdidChoice::Builtin(name)),
                None if s.contains('/') => Ok(EdidChoice::File(s.to_owned())),
                None => Err(allowed()),
            },
        }
    }

    /// The bytes to write (`None`: keep the device's), reading a file if one was named.
    pub fn load(&self) -> Result<Option<Vec<u8>>, String> {
        match self {
            EdidChoice::Builtin(name) => builtin(name).map(Some),
            EdidChoice::Keep => Ok(None),
            EdidChoice::File(path) => {
                let raw = std::fs::read(Path::new(path)).map_err(|e| format!("{path}: {e}"))?;
                parse(&raw).map(Some).map_err(|e| format!("{path}: {e}"))
            }
        }
    }
}

/// One video mode of a detailed timing descriptor (CEA-861 timings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mode {
    /// Pixel clock in kHz.
    khz: u32,
    /// Active, blanking, sync offset and sync width, horizontally then vertically.
    h: [u16; 4],
    v: [u16; 4],
    /// Image size in millimetres.
    mm: (u16, u16),
}

/// 1920x1080p60 (CEA VIC 16).
const MODE_1080P60: Mode = Mode {
    khz: 148_500,
    h: [1920, 280, 88, 44],
    v: [1080, 45, 4, 5],
    mm: (531, 299),
};

/// 1920x1080p50 (CEA VIC 31): the most a TC358743 on two CSI-2 lanes at 972 Mbit/s can
/// carry as UYVY (1.66 Gbit/s; 1080p60 needs 1.99, so three lanes).
const MODE_1080P50: Mode = Mode {
    khz: 148_500,
    h: [1920, 720, 528, 44],
    v: [1080, 45, 4, 5],
    mm: (531, 299),
};

/// 1280x720p60 (CEA VIC 4).
const MODE_720P60: Mode = Mode {
    khz: 74_250,
    h: [1280, 370, 110, 40],
    v: [720, 30, 5, 5],
    mm: (531, 299),
};

/// What differs between the built-in EDIDs.
struct Spec {
    preferred: Mode,
    /// Standard timings (bytes 38..54): (width, aspect bits), all at 60 Hz.
    standard: &'static [(u16, u8)],
    /// Range limits: max vertical Hz, max horizontal kHz, max pixel clock in 10 MHz units.
    limits: (u8, u8, u8),
    /// CEA-861 video identification codes, the native one first.
    vics: &'static [u8],
    /// Max TMDS clock in 5 MHz units (HDMI vendor block).
    tmds: u8,
}

const ASPECT_16_9: u8 = 0b11;
const ASPECT_5_4: u8 = 0b10;
const ASPECT_4_3: u8 = 0b01;

fn spec(name: &str) -> Option<Spec> {
    match name {
        "1080p50" => Some(Spec {
            preferred: MODE_1080P50,
            standard: &[(1280, ASPECT_16_9), (1280, ASPECT_5_4)],
            limits: (61, 70, 15),
            // 1080p50, 720p60, 720p50, 1080p30, 1080p25, 1080p24, 480p60, 640x480p60
            vics: &[31, 4, 19, 34, 33, 32, 3, 1],
            tmds: 30, // 150 MHz
        }),
        "1080p60" => Some(Spec {
            preferred: MODE_1080P60,
            standard: &[(1920, ASPECT_16_9), (1280, ASPECT_16_9), (1280, ASPECT_5_4)],
            limits: (61, 70, 15),
            // 1080p60, 1080p50, 720p60, 720p50, 1080p30, 1080p25, 1080p24, 480p60, 640x480p60
            vics: &[16, 31, 4, 19, 34, 33, 32, 3, 1],
            tmds: 30,
        }),
        "720p60" => Some(Spec {
            preferred: MODE_720P60,
            standard: &[(1280, ASPECT_16_9), (1024, ASPECT_4_3)],
            limits: (61, 50, 8),
            // 720p60, 720p50, 480p60, 640x480p60
            vics: &[4, 19, 3, 1],
            tmds: 16, // 80 MHz
        }),
        _ => None,
    }
}

/// A built-in EDID (two blocks: EDID 1.3 base and a CEA-861 extension).
pub fn builtin(name: &str) -> Result<Vec<u8>, String> {
    let s = spec(name).ok_or_else(|| {
        format!(
            "no built-in EDID {name:?} (built-in: {})",
            BUILTIN.join(", ")
        )
    })?;
    let mut out = base_block(&s);
    out.extend_from_slice(&cea_block(&s));
    Ok(out)
}

fn base_block(s: &Spec) -> Vec<u8> {
    let mut b = vec![0u8; BLOCK];
    b[..8].copy_from_slice(&[0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0]);
    b[8..10].copy_from_slice(&manufacturer(*b"PSC").to_be_bytes());
    b[10..12].copy_from_slice(&1u16.to_le_bytes()); // product code
    b[17] = 36; // year of manufacture: 1990 + 36 = 2026
    b[18..20].copy_from_slice(&[1, 3]); // EDID 1.3
    b[20] = 0x80; // digital input
    b[21] = u8::try_from(s.preferred.mm.0.div_ceil(10)).unwrap_or(0);
    b[22] = u8::try_from(s.preferred.mm.1.div_ceil(10)).unwrap_or(0);
    b[23] = 120; // gamma 2.2
    b[24] = 0x0E; // RGB colour, sRGB, the first detailed timing is the preferred mode
                  // sRGB primaries and D65 white point.
    b[25..35].copy_from_slice(&[0xEE, 0x91, 0xA3, 0x54, 0x4C, 0x99, 0x26, 0x0F, 0x50, 0x54]);
    b[35..38].copy_from_slice(&[0x21, 0x08, 0x00]); // 640x480@60, 800x600@60, 1024x768@60
    for slot in 0..8 {
        let v = match s.standard.get(slot) {
            Some(&(w, aspect)) => [u8::try_from(w / 8 - 31).unwrap_or(1), aspect << 6],
            None => [1, 1],
        };
        b[38 + 2 * slot..40 + 2 * slot].copy_from_slice(&v);
    }
    b[54..72].copy_from_slice(&dtd(&s.preferred));
    let (vmax, hmax, clock) = s.limits;
    let limits = [
        24, vmax, 15, hmax, clock, 0, 0x0A, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    ];
    b[72..90].copy_from_slice(&descriptor(0xFD, limits));
    let mut name = [0x20u8; 13];
    name[..10].copy_from_slice(b"periscope\n");
    b[90..108].copy_from_slice(&descriptor(0xFC, name));
    b[108..126].copy_from_slice(&descriptor(0x10, [0; 13])); // dummy
    b[126] = 1; // one extension block
    b[127] = checksum(&b[..127]);
    b
}

fn cea_block(s: &Spec) -> Vec<u8> {
    let mut data = Vec::new();
    // Video data block: the native VIC has bit 7 set.
    let vics: Vec<u8> = s
        .vics
        .iter()
        .enumerate()
        .map(|(i, &v)| if i == 0 { v | 0x80 } else { v })
        .collect();
    data_block(&mut data, 2, &vics);
    // Audio: LPCM, 2 channels, 32/44.1/48 kHz, 16/20/24 bit.
    data_block(&mut data, 1, &[0x09, 0x07, 0x07]);
    // Speaker allocation: front left/right.
    data_block(&mut data, 4, &[0x01, 0x00, 0x00]);
    // Video capability block (extended tag 0): RGB quantization range selectable; IT and CE
    // formats underscanned.
    data_block(&mut data, 7, &[0x00, 0x4A]);
    // HDMI vendor-specific block: IEEE OUI 00-0C-03, physical address 1.0.0.0.
    data_block(&mut data, 3, &[0x03, 0x0C, 0x00, 0x10, 0x00, 0x00, s.tmds]);
    let mut b = vec![0u8; BLOCK];
    b[0] = 0x02; // CEA-861 extension
    b[1] = 0x03; // revision 3
    b[2] = u8::try_from(4 + data.len()).unwrap_or(4); // detailed timings start (none follow)
    b[3] = 0xC1; // underscan, basic audio, one native detailed timing (the base block's)
    b[4..4 + data.len()].copy_from_slice(&data);
    b[127] = checksum(&b[..127]);
    b
}

fn data_block(out: &mut Vec<u8>, tag: u8, payload: &[u8]) {
    out.push(tag << 5 | u8::try_from(payload.len()).unwrap_or(0) & 0x1F);
    out.extend_from_slice(payload);
}

/// The three-letter PNP manufacturer id, five bits a letter.
fn manufacturer(id: [u8; 3]) -> u16 {
    id.iter()
        .fold(0u16, |acc, &c| acc << 5 | u16::from(c - b'A' + 1))
}

/// An 18-byte display descriptor with a 13-byte payload.
fn descriptor(tag: u8, payload: [u8; 13]) -> [u8; 18] {
    let mut d = [0u8; 18];
    d[3] = tag;
    d[5..].copy_from_slice(&payload);
    d
}

/// An 18-byte detailed timing descriptor (digital separate sync, both polarities positive).
fn dtd(m: &Mode) -> [u8; 18] {
    let lo = |v: u16| (v & 0xFF) as u8;
    let hi = |v: u16, shift: u8| (((v >> 8) & 0x0F) as u8) << shift;
    let [ha, hb, ho, hw] = m.h;
    let [va, vb, vo, vw] = m.v;
    let clock = u16::try_from(m.khz / 10).unwrap_or(0).to_le_bytes();
    let (hmm, vmm) = m.mm;
    [
        clock[0],
        clock[1],
        lo(ha),
        lo(hb),
        hi(ha, 4) | hi(hb, 0),
        lo(va),
        lo(vb),
        hi(va, 4) | hi(vb, 0),
        lo(ho),
        lo(hw),
        ((vo & 0x0F) as u8) << 4 | (vw & 0x0F) as u8,
        (((ho >> 8) & 3) as u8) << 6
            | (((hw >> 8) & 3) as u8) << 4
            | (((vo >> 4) & 3) as u8) << 2
            | ((vw >> 4) & 3) as u8,
        lo(hmm),
        lo(vmm),
        hi(hmm, 4) | hi(vmm, 0),
        0,
        0,
        0x1E,
    ]
}

/// The byte that makes a block's sum 0 mod 256.
fn checksum(bytes: &[u8]) -> u8 {
    let sum = bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b));
    0u8.wrapping_sub(sum)
}

/// Reads an EDID from a file's bytes: raw binary, or hex digits (whitespace, newlines and
/// `0x` prefixes ignored). Checks the header, every block's checksum and the extension count.
pub fn parse(raw: &[u8]) -> Result<Vec<u8>, String> {
    let text = raw
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace());
    let bytes = if text && !raw.is_empty() {
        from_hex(raw)?
    } else {
        raw.to_vec()
    };
    if bytes.is_empty() || bytes.len() % BLOCK != 0 || bytes.len() > MAX_BLOCKS * BLOCK {
        return Err(format!(
            "{} bytes: an EDID is 1 to {MAX_BLOCKS} blocks of {BLOCK} bytes",
            bytes.len()
        ));
    }
    if bytes[..8] != [0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0] {
        return Err("no EDID header (00 FF FF FF FF FF FF 00)".into());
    }
    for (i, block) in bytes.chunks(BLOCK).enumerate() {
        if block.iter().fold(0u8, |a, &b| a.wrapping_add(b)) != 0 {
            return Err(format!("block {i}: bad checksum"));
        }
    }
    let blocks = bytes.len() / BLOCK;
    let extensions = usize::from(bytes[126]);
    if extensions + 1 != blocks {
        return Err(format!(
            "the base block announces {extensions} extension block(s) but the file has {}",
            blocks - 1
        ));
    }
    Ok(bytes)
}

fn from_hex(raw: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(raw).map_err(|_| "neither an EDID nor hex text")?;
    let mut digits = Vec::new();
    for word in text.split_whitespace() {
        let word = word.trim_start_matches("0x").trim_start_matches("0X");
        for c in word.chars() {
            let d = c
                .to_digit(16)
                .ok_or_else(|| format!("{c:?} is not a hex digit"))?;
            digits.push(d as u8);
        }
    }
    if digits.len() % 2 != 0 {
        return Err("an odd number of hex digits".into());
    }
    Ok(digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect())
}

/// Whether two EDIDs are the same but for the HDMI physical address (and so the CEA block's
/// checksum): receivers report the address they assign (vivid reads back 0.0.0.0), so a
/// byte-for-byte comparison would rewrite an unchanged EDID, and a rewrite pulses hot-plug.
pub fn same_ignoring_physical_address(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && without_physical_address(a) == without_physical_address(b)
}

/// `edid` with the HDMI vendor block's physical address and the checksums of the blocks
/// holding it zeroed.
fn without_physical_address(edid: &[u8]) -> Vec<u8> {
    let mut e = edid.to_vec();
    for block in e.chunks_mut(BLOCK).skip(1) {
        if block.first() != Some(&0x02) {
            continue;
        }
        if let Some(at) = block.windows(3).position(|w| w == [0x03, 0x0C, 0x00]) {
            for b in block.iter_mut().skip(at + 3).take(2) {
                *b = 0;
            }
            if let Some(sum) = block.last_mut() {
                *sum = 0;
            }
        }
    }
    e
}

/// The EDID as lower-case hex, 16 bytes a line (what `v4l2-ctl --set-edid file=` reads).
pub fn to_hex(bytes: &[u8]) -> String {
    let lines: Vec<String> = bytes
        .chunks(16)
        .map(|l| l.iter().map(|b| format!("{b:02x}")).collect::<String>())
        .collect();
    lines.join("\n") + "\n"
}

/// The monitor name an EDID announces (descriptor 0xFC), if any.
pub fn monitor_name(bytes: &[u8]) -> Option<String> {
    let base = bytes.get(..BLOCK)?;
    base[54..126].chunks(18).find_map(|d| {
        (d[..3] == [0, 0, 0] && d[3] == 0xFC).then(|| {
            let name = &d[5..];
            let end = name.iter().position(|&c| c == b'\n').unwrap_or(name.len());
            String::from_utf8_lossy(&name[..end]).trim_end().to_owned()
        })
    })
}

/// The preferred mode (the first detailed timing): width, height and refresh in Hz.
pub fn preferred_mode(bytes: &[u8]) -> Option<(u32, u32, u32)> {
    let d = bytes.get(54..72)?;
    let clock = u32::from(u16::from_le_bytes([d[0], d[1]])) * 10_000;
    let w = u32::from(d[2]) | u32::from(d[4] >> 4) << 8;
    let hb = u32::from(d[3]) | u32::from(d[4] & 0x0F) << 8;
    let h = u32::from(d[5]) | u32::from(d[7] >> 4) << 8;
    let vb = u32::from(d[6]) | u32::from(d[7] & 0x0F) << 8;
    let total = (w + hb) * (h + vb);
    (clock > 0 && total > 0).then(|| (w, h, (clock + total / 2) / total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_1080p_detailed_timing_is_the_cea_one() {
        // CEA-861 1920x1080p60 as every 1080p monitor's EDID spells it.
        let want = [
            0x02, 0x3A, 0x80, 0x18, 0x71, 0x38, 0x2D, 0x40, 0x58, 0x2C, 0x45, 0x00, 0x13, 0x2B,
            0x21, 0x00, 0x00, 0x1E,
        ];
        assert_eq!(dtd(&MODE_1080P60), want);
        let e = builtin("1080p60").unwrap();
        assert_eq!(&e[54..72], &want);
        assert_eq!(preferred_mode(&e), Some((1920, 1080, 60)));
        let modes: Vec<_> = BUILTIN
            .iter()
            .map(|n| preferred_mode(&builtin(n).unwrap()))
            .collect();
        let want = [(1920, 1080, 50), (1920, 1080, 60), (1280, 720, 60)];
        assert_eq!(modes, want.map(Some));
    }

    #[test]
    fn builtins_are_valid_two_block_edids_named_periscope() {
        for name in BUILTIN {
            let e = builtin(name).unwrap();
            assert_eq!(e.len(), 2 * BLOCK);
            assert_eq!(parse(&e), Ok(e.clone()), "{name}");
            assert_eq!(monitor_name(&e).as_deref(), Some("periscope"));
            assert_eq!(&e[8..10], &[0x42, 0x63], "manufacturer PSC");
            // The extension: CEA-861 rev 3 with the HDMI OUI and physical address 1.0.0.0.
            let ext = &e[BLOCK..];
            assert_eq!(&ext[..2], &[2, 3]);
            let hdmi = ext.windows(5).any(|w| w == [0x03, 0x0C, 0x00, 0x10, 0x00]);
            assert!(hdmi, "{name}: HDMI vendor block");
        }
        assert_eq!(
            builtin("1080p60").unwrap()[BLOCK + 5],
            16 | 0x80,
            "native VIC 16"
        );
        let two_lane = builtin("1080p50").unwrap();
        assert_eq!(two_lane[BLOCK + 5], 31 | 0x80, "native VIC 31");
        let vdb = &two_lane[BLOCK + 5..BLOCK + 5 + usize::from(two_lane[BLOCK + 4] & 0x1F)];
        assert!(!vdb.contains(&16), "no 1080p60 for two lanes: {vdb:?}");
        assert!(
            !two_lane[38..54].chunks(2).any(|t| t == [0xD1, 0xC0]),
            "no 1920x1080@60 standard timing"
        );
        assert!(builtin("4k")
            .unwrap_err()
            .contains("1080p50, 1080p60, 720p60"));
    }

    #[test]
    fn files_are_read_as_binary_or_hex_and_checked() {
        let e = builtin("720p60").unwrap();
        assert_eq!(parse(to_hex(&e).as_bytes()), Ok(e.clone()));
        let spaced: String = e.iter().map(|b| format!("0x{b:02X} ")).collect();
        assert_eq!(parse(spaced.as_bytes()), Ok(e.clone()));
        let mut bad = e.clone();
        bad[200] ^= 1;
        assert_eq!(parse(&bad), Err("block 1: bad checksum".into()));
        assert!(parse(&e[..BLOCK])
            .unwrap_err()
            .contains("announces 1 extension"));
        assert!(parse(&e[..100]).unwrap_err().contains("100 bytes"));
        assert!(parse(b"hello").unwrap_err().contains("not a hex digit"));
        assert!(parse(b"abc").unwrap_err().contains("odd number"));
        assert!(parse(&[0u8; 128]).unwrap_err().contains("no EDID header"));
    }

    #[test]
    fn the_physical_address_a_receiver_reports_back_is_no_change() {
        let e = builtin("1080p50").unwrap();
        let mut read_back = e.clone();
        let at = read_back
            .windows(3)
            .position(|w| w == [0x03, 0x0C, 0x00])
            .unwrap();
        read_back[at + 3] = 0; // 1.0.0.0 -> 0.0.0.0, as vivid reports it
        read_back[255] = read_back[255].wrapping_add(0x10);
        assert!(same_ignoring_physical_address(&e, &read_back));
        let mut other = read_back.clone();
        other[BLOCK + 6] ^= 1; // a VIC
        assert!(!same_ignoring_physical_address(&e, &other));
        assert!(!same_ignoring_physical_address(
            &e,
            &builtin("1080p60").unwrap()
        ));
        assert!(!same_ignoring_physical_address(&e, &e[..BLOCK]));
    }

    #[test]
    fn choices_parse_and_load() {
        assert_eq!(
            EdidChoice::parse("default"),
            Ok(EdidChoice::Builtin("1080p50"))
        );
        assert_eq!(
            EdidChoice::parse("720p60"),
            Ok(EdidChoice::Builtin("720p60"))
        );
        assert_eq!(EdidChoice::parse("none"), Ok(EdidChoice::Keep));
        assert_eq!(
            EdidChoice::parse("./my.edid"),
            Ok(EdidChoice::File("./my.edid".into()))
        );
        let err = EdidChoice::parse("4k").unwrap_err();
        assert!(
            err.contains("default, 1080p50, 1080p60, 720p60, none"),
            "{err}"
        );
        assert_eq!(EdidChoice::Keep.load(), Ok(None));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.hex");
        std::fs::write(&path, to_hex(&builtin("720p60").unwrap())).unwrap();
        let file = EdidChoice::File(path.display().to_string());
        assert_eq!(file.load(), Ok(Some(builtin("720p60").unwrap())));
        let missing = EdidChoice::File("/nonexistent/e.bin".into()).load();
        assert!(missing.unwrap_err().starts_with("/nonexistent/e.bin: "));
    }

    /// `edid-decode` (Debian's package, installed by scripts/test) reads the built-ins with
    /// no conformity failures.
    #[test]
    fn edid_decode_accepts_the_builtins() {
        let Ok(out) = std::process::Command::new("edid-decode")
            .arg("--help")
            .output()
        else {
            eprintln!("edid-decode is not installed: skipped (scripts/test installs it)");
            assert!(std::env::var_os("CI").is_none(), "CI must have edid-decode");
            return;
        };
        assert!(!out.stdout.is_empty() || !out.stderr.is_empty());
        let dir = tempfile::tempdir().unwrap();
        for name in BUILTIN {
            let path = dir.path().join(format!("{name}.bin"));
            std::fs::write(&path, builtin(name).unwrap()).unwrap();
            let out = std::process::Command::new("edid-decode")
                .arg("--check")
                .arg(&path)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{name}: edid-decode --check:\n{text}");
            assert!(text.contains("periscope"), "{name}:\n{text}");
        }
    }
}
