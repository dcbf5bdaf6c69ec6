//! The ML half of PowerBirth: the obstetric risk model's data checks, training and registry.
//! Nothing here serves HTTP or touches the database; `cli` and `app` call it.

pub mod registry;
