//! Devices are runtime values (DESIGN rule 3): one `Tensor` type for every device.

use crate::error::{Error, Result};
use std::fmt;

/// Where a tensor's storage lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Device {
    #[default]
    Cpu,
    /// An NVIDIA GPU by ordinal.
    Cuda(usize),
}

impl Device {
    /// The GPU with the given ordinal. Using it fails with a clear error when this build or this
    /// machine has no CUDA.
    pub fn cuda(ordinal: usize) -> Device {
        Device::Cuda(ordinal)
    }

    /// Fails unless the device can be used in this process.
    pub fn check_available(self, op: &'static str) -> Result<()> {
        match self {
            Device::Cpu => Ok(()),
            #[cfg(feature = "cuda")]
            Device::Cuda(i) => crate::cuda::device::gpu(i).map(|_| ()).map_err(|e| match e {
                Error::Device { msg, .. } => Error::Device { op, msg },
                e => e,
            }),
            #[cfg(not(feature = "cuda"))]
            Device::Cuda(i) => Err(Error::Device {
                op,
                msg: format!(
                    "cuda:{i} is not available: no CUDA driver found (this build of ember has no \
                     CUDA backend enabled)"
                ),
            }),
        }
    }
}

impl Device {
    pub fn is_cuda(self) -> bool {
        matches!(self, Device::Cuda(_))
    }

    pub fn is_cpu(self) -> bool {
        self == Device::Cpu
    }
}

impl From<&Device> for Device {
    fn from(d: &Device) -> Device {
        *d
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// Parses the names `Display` writes, as `torch.device` does: `cpu`, `cuda` (GPU 0) and
/// `cuda:N`. Parsing does not check that the device exists (`check_available` does).
impl std::str::FromStr for Device {
    type Err = Error;

    fn from_str(s: &str) -> Result<Device> {
        let bad = || Error::Arg {
            op: "Device::from_str",
            msg: format!("unknown device {s:?}: expected cpu, cuda or cuda:N"),
        };
        match s.trim() {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            t => match t.strip_prefix("cuda:") {
                Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                    n.parse().map(Device::Cuda).map_err(|_| bad())
                }
                _ => Err(bad()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_prints() {
        for d in [Device::Cpu, Device::Cuda(0), Device::Cuda(3)] {
            assert_eq!(d.to_string().parse::<Device>().unwrap(), d);
        }
        assert_eq!("cuda".parse::<Device>().unwrap(), Device::Cuda(0));
        for bad in [
            "",
            "gpu",
            "cuda:",
            "cuda:-1",
            "cuda:x",
            "CPU",
            "cuda:99999999999999999999999",
        ] {
            let e = bad.parse::<Device>().unwrap_err().to_string();
            assert!(e.contains("unknown device") && e.contains("cuda:N"), "{bad:?}: {e}");
        }
    }
}
