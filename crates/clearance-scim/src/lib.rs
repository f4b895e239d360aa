//! SCIM 2.0 (RFC 7643 schemas, RFC 7644 protocol) as pure functions, for provisioning the
//! principal registry from an identity provider (Okta, Microsoft Entra ID).
//!
//! - [`schema`]: the URNs (core User and Group, the enterprise extension, Clearance's own
//!   extension for citizenships, permanent residency, protected-individual status and
//!   residence) and the discovery documents;
//! - [`resource`]: a resource body as kept (names canonical, string booleans read, passwords
//!   dropped), typed views of what Clearance reads ([`resource::User`], [`resource::Group`]),
//!   rendering with `meta` and ETags;
//! - [`patch`]: PATCH operations as Okta and Entra ID send them;
//! - [`filter`]: the filter language; [`list`]: paging and ListResponse;
//! - [`mapping`]: a User and its groups to a [`clearance_core::principal::Principal`], facts
//!   checked exactly as a principal file's are;
//! - [`error`]: [`ScimError`], the SCIM error shape.
//!
//! **Invariant:** no IO, no async, no HTTP. The gateway (`clearance-gateway/src/scim.rs`)
//! stores resources and principals together and serves the endpoints; this crate decides.

pub mod error;
pub mod filter;
pub mod list;
pub mod mapping;
pub mod patch;
pub mod resource;
pub mod schema;

pub use error::{ScimError, ScimType};
pub use schema::ResourceKind;
