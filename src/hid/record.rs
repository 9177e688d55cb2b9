//! The `none` and `record:FILE` backends: no hardware. `record` appends each report as one
//! JSON line `{"t_ms":…,"device":"keyboard","report":"hex"}` so tests can read exactly what a
//! USB host would have received.

use super::{HidBackend, HidError, HidReport};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
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

/// Appends reports to a file.
#[derive(Debug)]
pub struct RecordHid {
    file: File,
}

impl RecordHid {
    /// Opens (creates, appends to) the record file.
    pub fn open(path: &Path) -> Result<RecordHid, HidError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| HidError::DeviceMissing(format!("record file {}: {e}", path.display())))?;
        Ok(RecordHid { file })
    }
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

    #[test]
    fn a_missing_directory_is_a_clear_error() {
        let err = RecordHid::open(Path::new("/nonexistent-dir/x.jsonl")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent-dir/x.jsonl"),
            "{err}"
        );
    }
}
