//! `/metrics` in the Prometheus text exposition format. The counters live where the work
//! happens (atomics in the pipeline, fan-out, HID worker, WebRTC host); this module only
//! formats them, so there is no second registry to keep in sync.

use std::fmt::Write;

/// One sample: name, help, kind ("counter" or "gauge"), value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name (`periscope_` prefix added by [`render`]).
    pub name: &'static str,
    /// One-line help.
    pub help: &'static str,
    /// "counter" or "gauge".
    pub kind: &'static str,
    /// Labels as (key, value).
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: f64,
}

/// Formats samples; samples of one name must be adjacent.
pub fn render(samples: &[Sample]) -> String {
    let mut out = String::new();
    let mut last = "";
    for s in samples {
        if s.name != last {
            let _ = writeln!(out, "# HELP periscope_{} {}", s.name, s.help);
            let _ = writeln!(out, "# TYPE periscope_{} {}", s.name, s.kind);
            last = s.name;
        }
        let labels = if s.labels.is_empty() {
            String::new()
        } else {
            let inner: Vec<String> = s
                .labels
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}=\"{}\"",
                        v.replace('\\', "\\\\")
                            .replace('"', "\\\"")
                            .replace('\n', "\\n")
                    )
                })
                .collect();
            format!("{{{}}}", inner.join(","))
        };
        let _ = writeln!(out, "periscope_{}{} {}", s.name, labels, s.value);
    }
    out
}

/// A gauge or counter without labels.
pub fn sample(name: &'static str, help: &'static str, kind: &'static str, value: f64) -> Sample {
    Sample {
        name,
        help,
        kind,
        labels: Vec::new(),
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format() {
        let mut a = sample("frames_total", "Frames.", "counter", 3.0);
        a.labels.push(("stream", "h\"264".into()));
        let b = sample("viewers", "Viewers.", "gauge", 1.0);
        assert_eq!(
            render(&[a, b]),
            "# HELP periscope_frames_total Frames.\n# TYPE periscope_frames_total counter\nperiscope_frames_total{stream=\"h\\\"264\"} 3\n\
             # HELP periscope_viewers Viewers.\n# TYPE periscope_viewers gauge\nperiscope_viewers 1\n"
        );
    }
}
