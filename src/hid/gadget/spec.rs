//! What a gadget is made of: its functions ([`FunctionSpec`], with their endpoint costs and
//! configfs names) and the whole device ([`GadgetSpec`]). Pure data; `plan` checks it.
//!
//! Endpoint costs follow PiKVM's accounting (`docs/usb.md`): HID 1 (every HID function is
//! created with `no_out_endpoint = 1`, so LED output reports arrive through SET_REPORT on
//! ep0), mass storage 2, ACM 3, ECM/NCM 3.

use super::descriptors::{self, HidFunction};
use std::path::PathBuf;

/// Linux Foundation, "Multifunction Composite Gadget".
pub const DEFAULT_VENDOR_ID: u16 = 0x1d6b;
/// See [`DEFAULT_VENDOR_ID`].
pub const DEFAULT_PRODUCT_ID: u16 = 0x0104;

/// One USB function of the gadget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionSpec {
    /// Boot keyboard (`/dev/hidgN`, LED output reports).
    Keyboard,
    /// Absolute pointer (tablet).
    MouseAbs,
    /// Relative boot mouse.
    MouseRel,
    /// A removable disk or CD-ROM; `file` empty = no medium inserted.
    MassStorage {
        /// Backing image (absolute), or empty for no medium.
        file: PathBuf,
        /// Present as a CD-ROM.
        cdrom: bool,
        /// Refuse writes.
        read_only: bool,
        /// Removable medium (can be ejected and changed).
        removable: bool,
    },
    /// CDC ACM serial port (`/dev/ttyGS0`).
    Acm,
    /// CDC ECM Ethernet (Linux, macOS hosts).
    Ecm,
    /// CDC NCM Ethernet (Windows 11, Linux, macOS hosts).
    Ncm,
}

impl FunctionSpec {
    /// Every name [`FunctionSpec::from_name`] accepts, in the order users usually list them.
    pub const NAMES: &'static [&'static str] = &[
        "keyboard",
        "mouse_abs",
        "mouse_rel",
        "mass_storage",
        "acm",
        "ecm",
        "ncm",
    ];

    /// Parses a profile name; `mass_storage` is a removable read-write disk with no medium.
    pub fn from_name(name: &str) -> Option<FunctionSpec> {
        Some(match name {
            "keyboard" => FunctionSpec::Keyboard,
            "mouse_abs" => FunctionSpec::MouseAbs,
            "mouse_rel" => FunctionSpec::MouseRel,
            "mass_storage" => FunctionSpec::MassStorage {
                file: PathBuf::new(),
                cdrom: false,
                read_only: false,
                removable: true,
            },
            "acm" => FunctionSpec::Acm,
            "ecm" => FunctionSpec::Ecm,
            "ncm" => FunctionSpec::Ncm,
            _ => return None,
        })
    }

    /// The name used in profiles, messages and [`HidReport::device`](crate::hid::HidReport).
    pub fn name(&self) -> &'static str {
        match self {
            FunctionSpec::Keyboard => "keyboard",
            FunctionSpec::MouseAbs => "mouse_abs",
            FunctionSpec::MouseRel => "mouse_rel",
            FunctionSpec::MassStorage { .. } => "mass_storage",
            FunctionSpec::Acm => "acm",
            FunctionSpec::Ecm => "ecm",
            FunctionSpec::Ncm => "ncm",
        }
    }

    /// Endpoints this function takes from the UDC (besides ep0).
    pub fn endpoints(&self) -> u32 {
        match self {
            FunctionSpec::Keyboard | FunctionSpec::MouseAbs | FunctionSpec::MouseRel => 1,
            FunctionSpec::MassStorage { .. } => 2,
            FunctionSpec::Acm | FunctionSpec::Ecm | FunctionSpec::Ncm => 3,
        }
    }

    /// The configfs function directory name (`driver.instance`).
    pub fn dir(&self) -> &'static str {
        match self {
            FunctionSpec::Keyboard => "hid.keyboard",
            FunctionSpec::MouseAbs => "hid.mouse_abs",
            FunctionSpec::MouseRel => "hid.mouse_rel",
            FunctionSpec::MassStorage { .. } => "mass_storage.disk",
            FunctionSpec::Acm => "acm.usb0",
            FunctionSpec::Ecm => "ecm.usb0",
            FunctionSpec::Ncm => "ncm.usb0",
        }
    }

    /// The HID descriptor set, for HID functions.
    pub fn hid(&self) -> Option<HidFunction> {
        match self {
            FunctionSpec::Keyboard => Some(descriptors::KEYBOARD),
            FunctionSpec::MouseAbs => Some(descriptors::MOUSE_ABS),
            FunctionSpec::MouseRel => Some(descriptors::MOUSE_REL),
            _ => None,
        }
    }

    /// Order in which functions are suggested for dropping (lowest first): networking and
    /// serial before storage, the keyboard last.
    pub(super) fn drop_rank(&self) -> u8 {
        match self {
            FunctionSpec::Ecm | FunctionSpec::Ncm => 0,
            FunctionSpec::Acm => 1,
            FunctionSpec::MassStorage { .. } => 2,
            FunctionSpec::MouseRel => 3,
            FunctionSpec::MouseAbs => 4,
            FunctionSpec::Keyboard => 5,
        }
    }
}

/// What gadget to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GadgetSpec {
    /// idVendor.
    pub vendor_id: u16,
    /// idProduct.
    pub product_id: u16,
    /// iManufacturer string.
    pub manufacturer: String,
    /// iProduct string.
    pub product: String,
    /// iSerialNumber string (also seeds the Ethernet MAC addresses).
    pub serial: String,
    /// Functions in interface order.
    pub functions: Vec<FunctionSpec>,
    /// Endpoints the UDC offers besides ep0, IN and OUT counted together with PiKVM's costs
    /// (Raspberry Pi dwc2: 7 IN + 7 OUT in hardware; the profiles budget 9, as PiKVM does).
    pub endpoint_budget: u32,
    /// `auto` (the first UDC) or a UDC name such as `fe980000.usb`.
    pub udc: String,
}

impl GadgetSpec {
    /// A spec with periscope's ids and strings.
    pub fn new(functions: Vec<FunctionSpec>, endpoint_budget: u32, udc: &str) -> GadgetSpec {
        GadgetSpec {
            vendor_id: DEFAULT_VENDOR_ID,
            product_id: DEFAULT_PRODUCT_ID,
            manufacturer: "periscope".into(),
            product: "periscope KVM".into(),
            serial: "periscope".into(),
            functions,
            endpoint_budget,
            udc: udc.into(),
        }
    }
}
