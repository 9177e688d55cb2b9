//! The USB OTG gadget: periscope appears to the target as a composite USB device (keyboard,
//! absolute and relative mouse, optionally mass storage, serial, Ethernet) built through
//! configfs and libcomposite, and the `otg` HID backend that drives its `/dev/hidgN` nodes.
//!
//! Plan, then apply (style B3): [`plan`] turns a [`GadgetSpec`] (from the profile's `[usb]`
//! section) into data and refuses specs that cannot work — more endpoints than the UDC has,
//! more than 4 HID functions — before anything is written; [`apply`] performs the ops under
//! a root directory, [`apply::bind`] writes `UDC`, [`apply::teardown`] undoes it. [`up`] is
//! the whole sequence, used by `periscope otg up` and by `--hid otg` when no gadget exists.
//! [`spec`] describes the functions, [`descriptors`] holds the HID report descriptors,
//! [`hidg`] is the backend.

pub mod apply;
pub mod console;
pub mod descriptors;
// poll(2) on /dev/hidgN: wait a bounded time for the host to take a report.
#[allow(unsafe_code)]
pub mod hidg;
pub mod plan;
pub mod spec;
// poll(2) with POLLPRI on the UDC's sysfs state attribute.
#[allow(unsafe_code)]
pub mod udc_watch;

pub use apply::{GadgetError, GadgetStatus};
pub use hidg::OtgHid;
pub use plan::{FunctionSpec, GadgetSpec, Op, Plan, PlanError};

use crate::profile::UsbProfile;
use std::path::Path;

/// The gadget a profile's `[usb]` section describes, with periscope's ids and strings.
pub fn spec_from_profile(usb: &UsbProfile) -> GadgetSpec {
    GadgetSpec::new(usb.functions.clone(), usb.endpoint_budget, &usb.udc)
}

/// What [`up`] did.
#[derive(Debug)]
pub struct Up {
    /// The plan applied.
    pub plan: Plan,
    /// The UDC bound.
    pub udc: String,
    /// A previous periscope gadget was removed first.
    pub replaced: bool,
}

/// Plans, (re)builds and binds the gadget. All or nothing: a spec that does not fit or a
/// missing UDC changes nothing, and a failed apply or bind removes what was built.
pub fn up(root: &Path, spec: &GadgetSpec) -> Result<Up, GadgetError> {
    let plan = plan::plan(spec)?;
    apply::resolve_udc(root, &plan.udc)?;
    let replaced = apply::teardown(root)?;
    let built = apply::apply(&plan, root).and_then(|()| apply::bind(root, &plan.udc));
    match built {
        Ok(udc) => Ok(Up {
            plan,
            udc,
            replaced,
        }),
        Err(e) => {
            let _ = apply::teardown(root);
            Err(e)
        }
    }
}

/// For `--hid otg`: an existing periscope gadget is kept (and bound if it is not), otherwise
/// the spec is brought [`up`]. Returns what was built, if anything.
pub fn ensure_up(root: &Path, spec: &GadgetSpec) -> Result<Option<Up>, GadgetError> {
    let s = apply::status(root);
    if !s.present {
        return up(root, spec).map(Some);
    }
    if s.udc.is_none() {
        apply::bind(root, &spec.udc)?;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn fake_root(udc: bool) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join(plan::GADGETS_DIR)).unwrap();
        if udc {
            fs::create_dir_all(dir.path().join(plan::UDC_CLASS_DIR).join("dummy_udc.0")).unwrap();
        }
        dir
    }

    #[test]
    fn up_replaces_and_refuses_without_writing() {
        use FunctionSpec::*;
        let root = fake_root(true);
        let spec = GadgetSpec::new(vec![Keyboard, MouseAbs, MouseRel], 8, "auto");
        let first = up(root.path(), &spec).unwrap();
        assert_eq!((first.udc.as_str(), first.replaced), ("dummy_udc.0", false));
        let again = up(root.path(), &spec).unwrap();
        assert!(again.replaced);
        assert_eq!(ensure_up(root.path(), &spec).unwrap().map(|u| u.udc), None);
        // Over budget: the existing gadget is left alone.
        let big = GadgetSpec::new(vec![Keyboard, Acm, Ecm, Ncm], 8, "auto");
        assert!(matches!(up(root.path(), &big), Err(GadgetError::Plan(_))));
        assert!(apply::status(root.path()).present);
        apply::teardown(root.path()).unwrap();
        // No UDC: nothing is built.
        let root = fake_root(false);
        assert!(matches!(
            ensure_up(root.path(), &spec),
            Err(GadgetError::NoUdc(_))
        ));
        assert!(!apply::status(root.path()).present);
    }
}
