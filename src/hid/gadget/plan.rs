//! The configfs gadget as data (pure: no I/O, no clock). [`plan`] checks a [`GadgetSpec`]
//! (endpoint budget, f_hid's 4 minors, strings) and returns the ordered operations that build
//! it; `apply` performs them. Nothing is written when the spec does not fit, so a gadget that
//! needs more endpoints than the UDC has is refused with a message naming what to drop,
//! instead of failing half-built at bind time (PiKVM's `OSError: [Errno 524]`).
//!
//! Endpoint costs: [`FunctionSpec::endpoints`].
//!
//! Paths in [`Op`]s are relative to the gadget directory [`GADGET_DIR`]. `Mkdir` means
//! "ensure the directory exists": the kernel creates some itself (`functions`, `configs`,
//! `strings`, `lun.0`), and a plain directory tree (tests) needs them made.

pub use super::spec::{FunctionSpec, GadgetSpec, DEFAULT_PRODUCT_ID, DEFAULT_VENDOR_ID};
use std::fmt;
use std::path::PathBuf;

/// Where configfs gadgets live, relative to the system root.
pub const GADGETS_DIR: &str = "sys/kernel/config/usb_gadget";
/// Our gadget's directory, relative to the system root.
pub const GADGET_DIR: &str = "sys/kernel/config/usb_gadget/periscope";
/// The USB device controllers, relative to the system root.
pub const UDC_CLASS_DIR: &str = "sys/class/udc";
/// The one configuration, relative to the gadget directory.
pub const CONFIG_DIR: &str = "configs/c.1";
/// f_hid allocates at most this many `/dev/hidgN` minors.
pub const MAX_HID_FUNCTIONS: usize = 4;
/// Longest USB string configfs accepts.
const MAX_STRING: usize = 126;

/// One step of building the gadget; paths are relative to the gadget directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Ensure a directory exists (the gadget itself is the empty path).
    Mkdir(PathBuf),
    /// Write an attribute in one `write()`.
    Write {
        /// The attribute file.
        path: PathBuf,
        /// Its bytes (text without a newline, or a report descriptor).
        value: Vec<u8>,
    },
    /// Link a function into the configuration.
    Symlink {
        /// The function directory.
        target: PathBuf,
        /// The link inside the configuration.
        link: PathBuf,
    },
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Mkdir(p) if p.as_os_str().is_empty() => write!(f, "mkdir ."),
            Op::Mkdir(p) => write!(f, "mkdir {}", p.display()),
            Op::Write { path, value } => match std::str::from_utf8(value) {
                Ok(s) if !s.chars().any(char::is_control) => {
                    write!(f, "write {} = {s:?}", path.display())
                }
                _ => write!(f, "write {} = <{} bytes>", path.display(), value.len()),
            },
            Op::Symlink { target, link } => {
                write!(f, "symlink {} -> {}", link.display(), target.display())
            }
        }
    }
}

/// The checked gadget: the operations in order, then the UDC to bind (a separate step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Build steps, in order.
    pub ops: Vec<Op>,
    /// `auto` or a UDC name, written to `UDC` by `bind` after every op succeeded.
    pub udc: String,
    /// Each function's name and endpoint cost, in interface order.
    pub costs: Vec<(&'static str, u32)>,
    /// The endpoint budget checked against.
    pub budget: u32,
}

impl Plan {
    /// Endpoints the gadget needs.
    pub fn total(&self) -> u32 {
        self.costs.iter().map(|(_, c)| c).sum()
    }

    /// One line for humans: `keyboard 1, mouse_abs 1 = 2 of 8 endpoints`.
    pub fn summary(&self) -> String {
        format!(
            "{} = {} of {} endpoints",
            list(&self.costs),
            self.total(),
            self.budget
        )
    }
}

/// A spec that cannot be built. Nothing has been written when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The function list is empty.
    #[error("usb gadget: no functions: list at least one of {}", FunctionSpec::NAMES.join(", "))]
    NoFunctions,
    /// More HID functions than f_hid has minors.
    #[error(
        "usb gadget: {count} hid functions, f_hid has only {MAX_HID_FUNCTIONS} (/dev/hidg0..3)"
    )]
    TooManyHid {
        /// HID functions asked for.
        count: usize,
    },
    /// A function appears twice.
    #[error("usb gadget: {0} is listed twice")]
    Duplicate(&'static str),
    /// A value out of range.
    #[error("usb gadget: {field} = {value:?}: {expected}")]
    BadValue {
        /// The spec field.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// The functions need more endpoints than the UDC has.
    #[error(
        "usb gadget needs {total} endpoints, the udc has {budget}: {} — drop {} to fit",
        list(costs),
        and_list(drop)
    )]
    OverBudget {
        /// Every function with its cost.
        costs: Vec<(&'static str, u32)>,
        /// Their sum.
        total: u32,
        /// The budget.
        budget: u32,
        /// Functions to drop so the rest fits.
        drop: Vec<(&'static str, u32)>,
    },
}

fn list(items: &[(&str, u32)]) -> String {
    let parts: Vec<String> = items.iter().map(|(n, c)| format!("{n} {c}")).collect();
    parts.join(", ")
}

fn and_list(items: &[(&str, u32)]) -> String {
    let parts: Vec<String> = items.iter().map(|(n, c)| format!("{n} ({c})")).collect();
    match parts.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => parts.join(""),
    }
}

/// Functions to drop, least essential first, until `excess` endpoints are freed; then any
/// pick that turned out unnecessary is put back.
fn suggest_drop(functions: &[FunctionSpec], excess: u32) -> Vec<(&'static str, u32)> {
    let mut order: Vec<&FunctionSpec> = functions.iter().collect();
    order.sort_by_key(|f| f.drop_rank());
    let mut picked: Vec<&FunctionSpec> = Vec::new();
    let mut freed = 0;
    for f in order {
        if freed >= excess {
            break;
        }
        freed += f.endpoints();
        picked.push(f);
    }
    let mut i = 0;
    while i < picked.len() {
        let cost = picked[i].endpoints();
        if freed - cost >= excess {
            freed -= cost;
            picked.remove(i);
        } else {
            i += 1;
        }
    }
    picked.iter().map(|f| (f.name(), f.endpoints())).collect()
}

fn check_string(field: &'static str, value: &str) -> Result<(), PlanError> {
    let n = value.chars().count();
    if n == 0 || n > MAX_STRING || value.chars().any(char::is_control) {
        return Err(PlanError::BadValue {
            field,
            value: value.into(),
            expected: "1..=126 printable characters",
        });
    }
    Ok(())
}

fn check(spec: &GadgetSpec) -> Result<(), PlanError> {
    if !(1..=64).contains(&spec.endpoint_budget) {
        return Err(PlanError::BadValue {
            field: "endpoint_budget",
            value: spec.endpoint_budget.to_string(),
            expected: "1..=64",
        });
    }
    let udc_ok = !spec.udc.is_empty()
        && spec.udc.len() <= 64
        && !spec.udc.contains('/')
        && !spec
            .udc
            .chars()
            .any(|c| c.is_whitespace() || c.is_control());
    if !udc_ok {
        return Err(PlanError::BadValue {
            field: "udc",
            value: spec.udc.clone(),
            expected: "auto or a name from /sys/class/udc",
        });
    }
    check_string("manufacturer", &spec.manufacturer)?;
    check_string("product", &spec.product)?;
    check_string("serial", &spec.serial)?;
    if spec.functions.is_empty() {
        return Err(PlanError::NoFunctions);
    }
    let hid = spec.functions.iter().filter(|f| f.hid().is_some()).count();
    if hid > MAX_HID_FUNCTIONS {
        return Err(PlanError::TooManyHid { count: hid });
    }
    for (i, f) in spec.functions.iter().enumerate() {
        if spec.functions[..i].iter().any(|g| g.dir() == f.dir()) {
            return Err(PlanError::Duplicate(f.name()));
        }
        if let FunctionSpec::MassStorage { file, .. } = f {
            let s = file.to_string_lossy();
            if !s.is_empty() && (!file.is_absolute() || s.contains('\n')) {
                return Err(PlanError::BadValue {
                    field: "mass_storage.file",
                    value: s.into_owned(),
                    expected: "an absolute path, or empty for no medium",
                });
            }
        }
    }
    let costs: Vec<(&'static str, u32)> = spec
        .functions
        .iter()
        .map(|f| (f.name(), f.endpoints()))
        .collect();
    let total: u32 = costs.iter().map(|(_, c)| c).sum();
    if total > spec.endpoint_budget {
        return Err(PlanError::OverBudget {
            drop: suggest_drop(&spec.functions, total - spec.endpoint_budget),
            costs,
            total,
            budget: spec.endpoint_budget,
        });
    }
    Ok(())
}

/// FNV-1a, for stable values derived from strings.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// bcdDevice: changes whenever the ordered function list or a HID report descriptor does,
/// so Windows does not reuse descriptors it cached for another gadget. Binary-coded decimal
/// `01.xy` (configfs refuses a bcdDevice with a nibble above 9 with EINVAL).
pub fn bcd_device(functions: &[FunctionSpec]) -> u16 {
    let mut key = Vec::new();
    for f in functions {
        key.extend_from_slice(f.name().as_bytes());
        if let Some(hid) = f.hid() {
            key.extend_from_slice(hid.descriptor);
        }
        key.push(b',');
    }
    let h = (fnv1a(&key) % 100) as u16;
    0x0100 | ((h / 10) << 4) | (h % 10)
}

/// A stable, locally administered unicast MAC from the serial number and a role.
pub fn mac_address(serial: &str, role: &str) -> String {
    let h = fnv1a(format!("{serial}/{role}").as_bytes()).to_be_bytes();
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        h[0], h[1], h[2], h[3], h[4]
    )
}

struct Builder(Vec<Op>);

impl Builder {
    fn mkdir(&mut self, p: &str) {
        self.0.push(Op::Mkdir(p.into()));
    }
    fn write(&mut self, p: &str, value: impl Into<Vec<u8>>) {
        self.0.push(Op::Write {
            path: p.into(),
            value: value.into(),
        });
    }
}

/// Checks `spec` and returns the operations that build it.
pub fn plan(spec: &GadgetSpec) -> Result<Plan, PlanError> {
    check(spec)?;
    let mut b = Builder(Vec::new());
    b.mkdir("");
    b.write("idVendor", format!("{:#06x}", spec.vendor_id));
    b.write("idProduct", format!("{:#06x}", spec.product_id));
    b.write("bcdDevice", format!("{:#06x}", bcd_device(&spec.functions)));
    b.write("bcdUSB", "0x0200");
    let multi_interface = spec
        .functions
        .iter()
        .any(|f| matches!(f, FunctionSpec::Acm | FunctionSpec::Ecm | FunctionSpec::Ncm));
    if multi_interface {
        // Miscellaneous / Common Class / Interface Association: ACM and CDC Ethernet bring
        // IADs, and Windows needs this device class to read them.
        b.write("bDeviceClass", "0xef");
        b.write("bDeviceSubClass", "0x02");
        b.write("bDeviceProtocol", "0x01");
    }
    b.mkdir("strings");
    b.mkdir("strings/0x409");
    b.write("strings/0x409/manufacturer", spec.manufacturer.as_str());
    b.write("strings/0x409/product", spec.product.as_str());
    b.write("strings/0x409/serialnumber", spec.serial.as_str());
    b.mkdir("configs");
    b.mkdir(CONFIG_DIR);
    b.mkdir(&format!("{CONFIG_DIR}/strings"));
    b.mkdir(&format!("{CONFIG_DIR}/strings/0x409"));
    b.write(
        &format!("{CONFIG_DIR}/strings/0x409/configuration"),
        "periscope",
    );
    b.write(&format!("{CONFIG_DIR}/bmAttributes"), "0x80");
    b.write(&format!("{CONFIG_DIR}/MaxPower"), "250");
    b.mkdir("functions");
    for f in &spec.functions {
        let d = format!("functions/{}", f.dir());
        b.mkdir(&d);
        if let Some(h) = f.hid() {
            b.write(&format!("{d}/protocol"), h.protocol.to_string());
            b.write(&format!("{d}/subclass"), h.subclass.to_string());
            b.write(&format!("{d}/report_length"), h.report_length.to_string());
            b.write(&format!("{d}/no_out_endpoint"), "1");
            b.write(&format!("{d}/report_desc"), h.descriptor);
        }
        match f {
            FunctionSpec::MassStorage {
                file,
                cdrom,
                read_only,
                removable,
            } => {
                b.mkdir(&format!("{d}/lun.0"));
                // `ro` cannot change while a medium is loaded: flags first, file last.
                b.write(&format!("{d}/lun.0/cdrom"), u8::from(*cdrom).to_string());
                b.write(&format!("{d}/lun.0/ro"), u8::from(*read_only).to_string());
                b.write(
                    &format!("{d}/lun.0/removable"),
                    u8::from(*removable).to_string(),
                );
                if !file.as_os_str().is_empty() {
                    b.write(
                        &format!("{d}/lun.0/file"),
                        file.to_string_lossy().as_bytes(),
                    );
                }
            }
            FunctionSpec::Ecm | FunctionSpec::Ncm => {
                let host = mac_address(&spec.serial, &format!("{}/host", f.name()));
                let dev = mac_address(&spec.serial, &format!("{}/dev", f.name()));
                b.write(&format!("{d}/host_addr"), host);
                b.write(&format!("{d}/dev_addr"), dev);
            }
            _ => {}
        }
    }
    for f in &spec.functions {
        b.0.push(Op::Symlink {
            target: format!("functions/{}", f.dir()).into(),
            link: format!("{CONFIG_DIR}/{}", f.dir()).into(),
        });
    }
    Ok(Plan {
        ops: b.0,
        udc: spec.udc.clone(),
        costs: spec
            .functions
            .iter()
            .map(|f| (f.name(), f.endpoints()))
            .collect(),
        budget: spec.endpoint_budget,
    })
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
