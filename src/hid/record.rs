//! The `none` and `record:FILE` backends: no hardware. `record` appends each report as one
//! JSON line `{"t_ms":…,"device":"keyboard","report":"hex"}` so tests can read exactly what a
//! USB host would have received.
//!
//! Keyboard LEDs for tests: `record` has no host to set them, so its [`HidBackend::poll`] reads
//! a sidecar file `FILE.leds` (the record path with `.leds` appended) when it exists. Its
//! content is words among `caps`, `num` and `scroll`, separated by spaces, commas or newlines
//! (`caps num`; empty = all off; other words are ignored). Each poll whose content means a
//! different LED state from the last one reported returns it as `Polled { leds }`, which the
//! worker forwards to every `hid` channel as `{"type":"leds",…}`. A missing file reports
//! nothing. It never writes the sidecar.

use super::{HidBackend, HidError, HidReport, Leds, Polled};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Accepts every report and logs it at debug level.
#[derive(Debug, Default)]
pub struct NoneHid;

impl HidBackend for NoneHid {
    fn name(&self) -> &'static str {
        "none"
    }
    fn send(&mut self, report: &HidReport) -> Result<(), HidError> {
        tracing::debug!(target: "hid", device = report.device(), report = %hex(report.bytes()), "report");
        Ok(())
    }
}

/// Appends reports to a file; reads LED states from `FILE.leds`.
#[derive(Debug)]
pub struct RecordHid {
    file: File,
    /// The LED sidecar: the record path with `.leds` appended.
    leds_path: PathBuf,
    /// The LED state last returned by `poll` (`None` before the first).
    leds: Option<Leds>,
}

impl RecordHid {
    /// Opens (creates, appends to) the record file.
    pub fn open(path: &Path) -> Result<RecordHid, HidError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| HidError::DeviceMissing(format!("record file {}: {e}", path.display())))?;
        Ok(RecordHid {
            file,
            leds_path: leds_path(path),
            leds: None,
        })
    }
}

/// The LED sidecar of a record file: `FILE.leds`.
pub fn leds_path(record: &Path) -> PathBuf {
    let mut s = record.as_os_str().to_owned();
    s.push(".leds");
    PathBuf::from(s)
}

/// The LED state a sidecar's content means (pure): the words `caps`, `num`, `scroll`, in any
/// order and case, separated by whitespace or commas; other words are ignored.
pub fn parse_leds(text: &str) -> Leds {
    let mut leds = Leds::default();
    for word in text.split(|c: char| c.is_whitespace() || c == ',') {
        match word.to_ascii_lowercase().as_str() {
            "caps" => leds.caps = true,
            "num" => leds.num = true,
            "scroll" => leds.scroll = true,
            _ => {}
        }
    }
    leds
}

impl HidBackend for RecordHid {
    fn name(&self) -> &'static str {
        "record"
    }
    fn send(&mut self, report: &HidReport) -> Result<(), HidError> {
        let t_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let line = format!(
            "{{\"t_ms\":{t_ms},\"device\":\"{}\",\"report\":\"{}\"}}\n",
            report.device(),
            hex(report.bytes())
        );
        self.file.write_all(line.as_bytes())?;
        Ok(())
    }
    fn poll(&mut self) -> Polled {
        // Missing or unreadable: nothing to report (the file is a test's knob, not state).
        let Ok(text) = std::fs::read_to_string(&self.leds_path) else {
            return Polled::default();
        };
        let leds = parse_leds(&text);
        if self.leds == Some(leds) {
            return Polled::default();
        }
        self.leds = Some(leds);
        Polled {
            leds: Some(leds),
            ..Polled::default()
        }
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_appends_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.jsonl");
        let mut r = RecordHid::open(&path).unwrap();
        r.send(&HidReport::Keyboard([0, 0, 4, 0, 0, 0, 0, 0]))
            .unwrap();
        r.send(&HidReport::MouseAbs([1, 0, 0x40, 0xff, 0x7f, 0, 0]))
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["device"], "keyboard");
        assert_eq!(lines[0]["report"], "0000040000000000");
        assert_eq!(lines[1]["device"], "mouse_abs");
        assert_eq!(lines[1]["report"], "010040ff7f0000");
    }

    fn leds(caps: bool, num: bool, scroll: bool) -> Leds {
        Leds { caps, num, scroll }
    }

    #[test]
    fn led_words_parse() {
        assert_eq!(parse_leds(""), leds(false, false, false));
        assert_eq!(parse_leds("caps"), leds(true, false, false));
        assert_eq!(parse_leds("caps num\n"), leds(true, true, false));
        assert_eq!(parse_leds("Scroll,caps"), leds(true, false, true));
        assert_eq!(parse_leds("num kana"), leds(false, true, false));
    }

    #[test]
    fn the_sidecar_is_the_record_path_plus_leds() {
        assert_eq!(
            leds_path(Path::new("/tmp/rec.jsonl")),
            PathBuf::from("/tmp/rec.jsonl.leds")
        );
    }

    #[test]
    fn poll_reports_led_changes_from_the_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.jsonl");
        let side = dir.path().join("rec.jsonl.leds");
        let mut r = RecordHid::open(&path).unwrap();
        // No sidecar: nothing.
        assert_eq!(r.poll(), Polled::default());
        std::fs::write(&side, "caps").unwrap();
        assert_eq!(r.poll().leds, Some(leds(true, false, false)));
        // Unchanged content, or a different spelling of the same state: nothing new.
        assert_eq!(r.poll(), Polled::default());
        std::fs::write(&side, " CAPS\n").unwrap();
        assert_eq!(r.poll(), Polled::default());
        std::fs::write(&side, "num scroll").unwrap();
        assert_eq!(r.poll().leds, Some(leds(false, true, true)));
        std::fs::write(&side, "").unwrap();
        assert_eq!(r.poll().leds, Some(leds(false, false, false)));
        // Removed: nothing, and the last state stays the reported one.
        std::fs::remove_file(&side).unwrap();
        assert_eq!(r.poll(), Polled::default());
        std::fs::write(&side, "").unwrap();
        assert_eq!(r.poll(), Polled::default());
    }

    #[test]
    fn a_missing_directory_is_a_clear_error() {
        let err = RecordHid::open(Path::new("/nonexistent-dir/x.jsonl")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent-dir/x.jsonl"),
            "{err}"
        );
    }
}
