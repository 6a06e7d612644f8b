//! A twin phone: one T4x desk phone as the network sees it.
//!
//! INTERFACE CONTRACT (used by `bench.rs`; implemented in this folder):
//!
//! ```ignore
//! pub struct PhoneSpec {
//!     pub bench: String,            // bench name, for logs
//!     pub model: Model,
//!     pub mac: [u8; 6],
//!     pub ip: std::net::Ipv4Addr,   // the phone's own address (127.0.0.x): every socket binds it
//!     pub web_port: u16,
//!     pub time_scale: f64,          // multiplies every delay
//!     pub dhcp_provisioning_url: Option<String>, // DHCP option 66 on the lab network
//!     pub initial_firmware: std::path::PathBuf,  // the .rom the phone runs at bench start
//! }
//! #[derive(Clone)] pub struct Phone { .. }
//! impl Phone {
//!     pub fn spawn(spec: PhoneSpec) -> Result<Phone, PhoneError>; // inside a tokio runtime; starts unpowered
//!     pub fn set_power(&self, on: bool);      // power relay closed/open
//!     pub fn set_link(&self, connected: bool); // network cable connected/pulled
//!     pub fn set_key(&self, key: Key, pressed: bool);
//!     pub fn hang_in_boot(&self, hang: bool);  // fault hook: the next boots stop before the network
//!     pub fn shutdown(&self);                  // bench teardown
//! }
//! pub enum Model { T40P, T41P, T42G, T46G, T48G, T42S, T46S, T48S }  // Model::parse(&str)
//! pub enum Key { Speaker, Ok, Cancel, F1, F2, F3, F4, Up, Down, Left, Right, Digit(u8), Star, Pound, Mute, Headset }
//! // Key::parse(&str) takes the lab file's keymap names: speaker ok cancel f1..f4 up down left
//! // right 0-9 star pound mute headset
//! ```
