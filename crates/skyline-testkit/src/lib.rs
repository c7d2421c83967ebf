//! Test-only helpers shared by Skyline's test suites.
//!
//! # Layout
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`postgres`] | a throwaway PostgreSQL server started from the installed binaries, one database per test |
//!
//! Nothing here is used by the shipped binary.

pub mod postgres;
