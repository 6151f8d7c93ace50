//! What the application writes by hand beside its generated entities: the
//! `ActiveModelBehavior` of [`crate::generated`], numbering through
//! [`sequences_core::Numbering`].

pub mod generated_invoice;
