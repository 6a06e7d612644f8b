//! Equality across trait objects. A relay board's settings and a scenario's steps are each
//! a type of their kind's own file, held behind a trait object so that adding a kind adds no
//! variant anywhere else; comparing two of them (tests, a lab file read twice, a saved repro
//! session read back) still has to work.

use std::any::Any;

/// A value that can be compared with another value of unknown type: equal when both are
/// the same type and that type's `PartialEq` says so.
pub trait DynEq: Any {
    /// The value, for downcasting to its own type.
    fn as_any(&self) -> &dyn Any;

    /// Whether `other` is the same type as `self` and equal to it.
    fn same_as(&self, other: &dyn Any) -> bool;
}

impl<T: PartialEq + Any> DynEq for T {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn same_as(&self, other: &dyn Any) -> bool {
        other.downcast_ref::<T>() == Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::DynEq;

    #[test]
    fn equal_only_when_type_and_value_agree() {
        let a: &dyn DynEq = &3_u16;
        assert!(a.same_as(&3_u16));
        assert!(!a.same_as(&4_u16));
        assert!(!a.same_as(&3_u32), "another type is never equal");
    }
}
