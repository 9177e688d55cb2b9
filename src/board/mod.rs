//! Knowing the board: the profile sections that describe it (`spec`), a snapshot of what a
//! system tree shows (`snapshot`, the only file that reads it), the pure choice of a profile
//! from a snapshot (`detect`) and the pure checks of a profile against one (`doctor`).
//! Nothing here writes to the system or opens a device.

pub mod detect;
pub mod doctor;
pub mod snapshot;
pub mod spec;

use crate::profile::{self, HwProfile, ProfileError};
use std::path::Path;

/// Every shipped profile, validated, in `SHIPPED` order.
pub fn shipped() -> Result<Vec<HwProfile>, ProfileError> {
    profile::SHIPPED
        .iter()
        .map(|(file, text)| profile::validate(file, text))
        .collect()
}

/// Detection over the tree at `root`: the chosen profile and why (`--profile auto`,
/// `periscope detect`).
pub fn detect_root(root: &Path) -> Result<(HwProfile, detect::Detection), ProfileError> {
    let profiles = shipped()?;
    let d = detect::detect(&snapshot::read(root), &profiles);
    let p = profiles
        .into_iter()
        .find(|p| p.name == d.profile)
        .ok_or_else(|| ProfileError {
            file: format!("{}.toml", d.profile),
            key: "profile".into(),
            message: "detected but not shipped".into(),
        })?;
    Ok((p, d))
}
