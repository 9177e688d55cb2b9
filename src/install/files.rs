//! The text `periscope install` writes, as pure functions: the systemd unit, the config file,
//! and the edits to a board's boot configuration (a Raspberry Pi's `config.txt`, Armbian's
//! `armbianEnv.txt`). Text in, text out; no I/O.

use std::path::Path;

/// The systemd unit that runs the daemon at boot.
pub fn unit_file(bin: &Path, config: &Path) -> String {
    format!(
        "# Written by `periscope install`; `periscope install --remove` disables and removes it.\n\
[Unit]\n\
Description=periscope KVM-over-IP appliance\n\
Wants=network-online.target\n\
After=network-online.target sys-kernel-config.mount\n\
\n\
[Service]\n\
Type=simple\n\
ExecStart={bin} serve --config {config}\n\
# SIGTERM is a clean shutdown: held keys are released, sessions and a WHIP push end.\n\
KillSignal=SIGTERM\n\
TimeoutStopSec=15\n\
Restart=on-failure\n\
RestartSec=2\n\
# Root: it writes the USB gadget's configfs and opens /dev/video*, /dev/hidg*, serial ports.\n\
StateDirectory=periscope\n\
NoNewPrivileges=yes\n\
PrivateTmp=yes\n\
ProtectHome=yes\n\
\n\
[Install]\n\
WantedBy=multi-user.target\n",
        bin = bin.display(),
        config = config.display(),
    )
}

/// The config file a fresh install starts from: the profile detection chose, and why.
pub fn config_file(profile: &str, why: &[String]) -> String {
    let mut s = String::from(
        "# periscope's settings: each key is a flag of `periscope serve` in snake_case\n\
         # (README.md, \"Command line\"); flags given to the service win.\n",
    );
    s.push_str(&format!(
        "# `periscope install` picked this profile{}\n",
        if why.is_empty() { "." } else { " because:" }
    ));
    for w in why {
        s.push_str(&format!("#   {w}\n"));
    }
    s.push_str(&format!("profile = \"{profile}\"\n"));
    s.push_str(
        "# listen = \"0.0.0.0:8443\"\n\
         # resolution = \"1920x1080\"\n\
         # keyboard_layout = \"us\"\n",
    );
    s
}

/// What an overlay's snippet asks of its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootLine {
    /// `dtoverlay=NAME[,params]` in a Raspberry Pi `config.txt`: one line per overlay.
    DtOverlay {
        /// The overlay's name (before the first comma).
        name: String,
        /// The whole line.
        line: String,
    },
    /// `KEY=VALUE` in Armbian's `armbianEnv.txt`, whose `overlays=` line is a space-separated
    /// list: the value joins the list.
    ListItem {
        /// `overlays`.
        key: String,
        /// `dwc3-peripheral`.
        value: String,
    },
    /// Anything else (`user_overlays=`, which needs a .dtbo the user writes first): printed
    /// for the user, never applied.
    Manual,
}

/// Reads a profile's snippet.
pub fn boot_line(snippet: &str) -> BootLine {
    let s = snippet.trim();
    if s.contains('\n') {
        return BootLine::Manual;
    }
    if let Some(rest) = s.strip_prefix("dtoverlay=") {
        let name = rest.split(',').next().unwrap_or("").trim();
        if !name.is_empty() {
            return BootLine::DtOverlay {
                name: name.to_string(),
                line: s.to_string(),
            };
        }
    }
    if let Some(value) = s.strip_prefix("overlays=") {
        let value = value.trim();
        if !value.is_empty() && !value.contains(char::is_whitespace) {
            return BootLine::ListItem {
                key: "overlays".into(),
                value: value.to_string(),
            };
        }
    }
    BootLine::Manual
}

/// The result of applying one line to a boot file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootEdit {
    /// The file already has it (the existing line, as written).
    Present(String),
    /// The new text of the file.
    Changed(String),
    /// Not something install applies.
    Manual,
}

/// Applies `line` to the boot file's `text`. Existing lines are never changed except to join
/// an `overlays=` list; a commented-out line does not count.
pub fn apply(text: &str, line: &BootLine, profile: &str) -> BootEdit {
    match line {
        BootLine::DtOverlay { name, line } => {
            if let Some(found) = text.lines().map(str::trim).find(|l| {
                l.strip_prefix("dtoverlay=")
                    .and_then(|r| r.split(',').next())
                    .is_some_and(|n| n.trim() == name)
            }) {
                return BootEdit::Present(found.to_string());
            }
            let mut out = text.to_string();
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            // config.txt's conditional sections ([pi4], [cm4], …) run to the next header: a
            // line appended after one would apply only to that model.
            let last_section = text
                .lines()
                .map(str::trim)
                .rfind(|l| l.starts_with('[') && l.ends_with(']'));
            if last_section.is_some_and(|s| s != "[all]") {
                out.push_str("\n[all]\n");
            }
            out.push_str(&format!(
                "# added by periscope install ({profile})\n{line}\n"
            ));
            BootEdit::Changed(out)
        }
        BootLine::ListItem { key, value } => {
            let prefix = format!("{key}=");
            let mut found = false;
            let mut out = String::new();
            for l in text.lines() {
                match l.trim().strip_prefix(&prefix) {
                    Some(list) if !found => {
                        found = true;
                        if list.split_whitespace().any(|v| v == value) {
                            return BootEdit::Present(l.trim().to_string());
                        }
                        let joined = match list.trim() {
                            "" => value.clone(),
                            t => format!("{t} {value}"),
                        };
                        out.push_str(&format!("{prefix}{joined}\n"));
                    }
                    _ => {
                        out.push_str(l);
                        out.push('\n');
                    }
                }
            }
            if !found {
                out.push_str(&format!("{prefix}{value}\n"));
            }
            BootEdit::Changed(out)
        }
        BootLine::Manual => BootEdit::Manual,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(line: &str) -> BootLine {
        boot_line(line)
    }

    #[test]
    fn snippets_are_classified() {
        assert_eq!(
            boot_line("dtoverlay=dwc2,dr_mode=peripheral"),
            BootLine::DtOverlay {
                name: "dwc2".into(),
                line: "dtoverlay=dwc2,dr_mode=peripheral".into()
            }
        );
        assert_eq!(
            boot_line("overlays=dwc3-peripheral"),
            BootLine::ListItem {
                key: "overlays".into(),
                value: "dwc3-peripheral".into()
            }
        );
        assert_eq!(
            boot_line("user_overlays=rk3566-tc358743-i2c2"),
            BootLine::Manual
        );
        assert_eq!(boot_line("dtoverlay="), BootLine::Manual);
        assert_eq!(boot_line("overlays=a b"), BootLine::Manual);
        assert_eq!(boot_line("dtoverlay=a\ndtoverlay=b"), BootLine::Manual);
    }

    #[test]
    fn a_dtoverlay_is_appended_under_all() {
        let text = "# comment\ndtparam=audio=on\n\n[pi4]\narm_boost=1\n\n[all]\nenable_uart=1\n";
        let BootEdit::Changed(out) = apply(text, &dt("dtoverlay=tc358743"), "rpi4-tc358743") else {
            panic!("changed")
        };
        assert_eq!(
            out,
            format!("{text}# added by periscope install (rpi4-tc358743)\ndtoverlay=tc358743\n")
        );
        // Applying again finds it.
        assert_eq!(
            apply(&out, &dt("dtoverlay=tc358743"), "x"),
            BootEdit::Present("dtoverlay=tc358743".into())
        );
    }

    #[test]
    fn a_file_ending_in_a_conditional_section_gets_all_first() {
        let text = "dtparam=audio=on\n[cm4]\notg_mode=1";
        let BootEdit::Changed(out) = apply(text, &dt("dtoverlay=dwc2,dr_mode=peripheral"), "p")
        else {
            panic!("changed")
        };
        assert_eq!(
            out,
            "dtparam=audio=on\n[cm4]\notg_mode=1\n\n[all]\n# added by periscope install (p)\n\
             dtoverlay=dwc2,dr_mode=peripheral\n"
        );
    }

    #[test]
    fn an_existing_overlay_of_that_name_is_left_as_the_user_wrote_it() {
        // dwc2 without dr_mode defaults to otg, which the profile accepts.
        let text = "[all]\ndtoverlay=dwc2\n";
        assert_eq!(
            apply(text, &dt("dtoverlay=dwc2,dr_mode=peripheral"), "p"),
            BootEdit::Present("dtoverlay=dwc2".into())
        );
        // Commented out does not count; a longer name is another overlay.
        let text = "#dtoverlay=dwc2\ndtoverlay=dwc2-foo\n";
        assert!(matches!(
            apply(text, &dt("dtoverlay=dwc2"), "p"),
            BootEdit::Changed(_)
        ));
        assert!(matches!(
            apply("", &dt("dtoverlay=dwc2"), "p"),
            BootEdit::Changed(s) if s == "# added by periscope install (p)\ndtoverlay=dwc2\n"
        ));
    }

    #[test]
    fn an_armbian_overlays_list_is_joined() {
        let line = boot_line("overlays=dwc3-peripheral");
        let text = "verbosity=1\noverlay_prefix=rockchip\noverlays=i2c2-m0 uart2\nrootdev=UUID=x\n";
        assert_eq!(
            apply(text, &line, "p"),
            BootEdit::Changed(
                "verbosity=1\noverlay_prefix=rockchip\noverlays=i2c2-m0 uart2 dwc3-peripheral\n\
                 rootdev=UUID=x\n"
                    .into()
            )
        );
        assert_eq!(
            apply("overlays=dwc3-peripheral i2c2-m0\n", &line, "p"),
            BootEdit::Present("overlays=dwc3-peripheral i2c2-m0".into())
        );
        assert_eq!(
            apply("verbosity=1\n", &line, "p"),
            BootEdit::Changed("verbosity=1\noverlays=dwc3-peripheral\n".into())
        );
        assert_eq!(
            apply("overlays=\n", &line, "p"),
            BootEdit::Changed("overlays=dwc3-peripheral\n".into())
        );
        // user_overlays= is another key.
        assert_eq!(
            apply("user_overlays=dwc3-peripheral\n", &line, "p"),
            BootEdit::Changed("user_overlays=dwc3-peripheral\noverlays=dwc3-peripheral\n".into())
        );
        assert_eq!(apply("x", &BootLine::Manual, "p"), BootEdit::Manual);
    }

    #[test]
    fn the_unit_runs_the_binary_with_the_config_and_stops_by_sigterm() {
        let u = unit_file(
            Path::new("/usr/local/bin/periscope"),
            Path::new("/etc/periscope/periscope.toml"),
        );
        assert!(u.contains(
            "\nExecStart=/usr/local/bin/periscope serve --config /etc/periscope/periscope.toml\n"
        ));
        assert!(u.contains("\nKillSignal=SIGTERM\n"));
        assert!(u.contains("\nWantedBy=multi-user.target\n"));
        assert!(u.contains("\nStateDirectory=periscope\n"));
    }

    #[test]
    fn the_config_names_the_profile_and_why() {
        let c = config_file(
            "rpi4-ms2109",
            &["board: model".into(), "usb 534d:2109".into()],
        );
        // The daemon's own config reader takes it.
        let v: crate::config::Settings = toml::from_str(&c).expect("valid settings");
        assert_eq!(v.profile.as_deref(), Some("rpi4-ms2109"));
        assert!(c.contains("#   usb 534d:2109\n"));
    }
}
