//! The servers a lab needs while phones are driven: the endpoints, and the in-process
//! virtual bench for a lab file with a `[twin]` table. Started together and stopped in the
//! reverse order by `harness run` and `harness repro` alike.

use crate::endpoints::Endpoints;
use crate::lab::Lab;
use crate::virtual_bench::VirtualLab;

/// Why the lab's servers could not start: a lab fault, nothing was driven yet.
#[derive(Debug, thiserror::Error)]
pub enum ServicesError {
    /// An endpoint could not bind (check that its address is free and local).
    #[error("endpoints: {0}")]
    Endpoints(String),
    /// The in-process virtual bench could not publish its devices or start its phones.
    #[error("virtual bench: {0}")]
    VirtualBench(String),
}

/// The running endpoints and, when asked for, the virtual bench.
pub struct LabServices {
    /// The endpoints the phones call, shared with the scenarios that check them.
    pub endpoints: Endpoints,
    virtual_bench: Option<VirtualLab>,
}

impl LabServices {
    /// Binds the endpoints, then starts the virtual bench when `start_virtual_bench` is set
    /// and the lab has a `[twin]` table (it must be told the endpoints' addresses, as a
    /// lab's DHCP server would tell real phones).
    pub async fn start(lab: &Lab, start_virtual_bench: bool) -> Result<LabServices, ServicesError> {
        let endpoints = Endpoints::start(lab)
            .await
            .map_err(|e| ServicesError::Endpoints(e.to_string()))?;
        let virtual_bench = if start_virtual_bench && lab.twin.is_some() {
            match VirtualLab::start(lab, &endpoints.provisioning_url(), endpoints.addrs.tftp).await
            {
                Ok(v) => Some(v),
                Err(e) => {
                    endpoints.shutdown().await;
                    return Err(ServicesError::VirtualBench(e));
                }
            }
        } else {
            None
        };
        Ok(LabServices {
            endpoints,
            virtual_bench,
        })
    }

    /// Stops the virtual bench (its phones powered off, its devices removed), then the
    /// endpoints.
    pub async fn shutdown(self) {
        if let Some(v) = self.virtual_bench {
            v.shutdown().await;
        }
        self.endpoints.shutdown().await;
    }
}
