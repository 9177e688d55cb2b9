//! `/metrics` in the Prometheus text exposition format. The counters live where the work
//! happens (atomics in the pipeline, fan-out, HID worker, WebRTC host); this module only
//! formats them, so there is no second registry to keep in sync.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of every [`Histogram`]'s buckets: per-frame stage times, from a
/// fraction of a millisecond (a packet handed to the socket) to a stalled second.
pub const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1.0,
];

/// A Prometheus histogram of durations in seconds, lock-free: one atomic per bucket, the
/// sum in microseconds. Observed where the work happens; [`histogram_text`] formats it.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations at or below each bound (not cumulative; +Inf is the last slot).
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, seconds: f64) {
        let slot = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        let us = (seconds.max(0.0) * 1e6) as u64;
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Records one duration given in microseconds.
    pub fn observe_us(&self, us: u64) {
        self.observe(us as f64 / 1e6);
    }

    /// (cumulative count per bound and +Inf, sum in seconds, count).
    fn snapshot(&self) -> (Vec<u64>, f64, u64) {
        let mut total = 0;
        let cumulative = self
            .counts
            .iter()
            .map(|c| {
                total += c.load(Ordering::Relaxed);
                total
            })
            .collect();
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        (cumulative, sum, total)
    }
}

/// Formats histograms of one name (each series with its labels) in the text format.
pub fn histogram_text(
    name: &str,
    help: &str,
    series: &[(Vec<(&'static str, String)>, &Histogram)],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# HELP periscope_{name} {help}");
    let _ = writeln!(out, "# TYPE periscope_{name} histogram");
    for (labels, h) in series {
        let (cumulative, sum, count) = h.snapshot();
        let base: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let with = |extra: Option<String>| {
            let mut all = base.clone();
            all.extend(extra);
            if all.is_empty() {
                String::new()
            } else {
                format!("{{{}}}", all.join(","))
            }
        };
        for (i, c) in cumulative.iter().enumerate() {
            let le = BUCKETS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(
                out,
                "periscope_{name}_bucket{} {c}",
                with(Some(format!("le=\"{le}\"")))
            );
        }
        let _ = writeln!(out, "periscope_{name}_sum{} {sum}", with(None));
        let _ = writeln!(out, "periscope_{name}_count{} {count}", with(None));
    }
    out
}

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
    fn histograms_count_into_cumulative_buckets() {
        let h = Histogram::default();
        for s in [0.0003, 0.004, 0.004, 0.012, 3.0] {
            h.observe(s);
        }
        h.observe_us(700);
        let text = histogram_text(
            "encode_seconds",
            "Encode time per frame.",
            &[(vec![("stream", "h264".to_string())], &h)],
        );
        let line =
            |le: &str| format!("periscope_encode_seconds_bucket{{stream=\"h264\",le=\"{le}\"}}");
        for (le, want) in [
            ("0.0005", 1),
            ("0.001", 2),
            ("0.005", 4),
            ("0.015", 5),
            ("1", 5),
            ("+Inf", 6),
        ] {
            assert!(
                text.contains(&format!("{} {want}\n", line(le))),
                "{le}: {text}"
            );
        }
        assert!(text.starts_with("# HELP periscope_encode_seconds Encode time per frame.\n# TYPE periscope_encode_seconds histogram\n"));
        assert!(text.contains("periscope_encode_seconds_count{stream=\"h264\"} 6\n"));
        assert!(
            text.contains("periscope_encode_seconds_sum{stream=\"h264\"} 3.021"),
            "{text}"
        );
    }

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
