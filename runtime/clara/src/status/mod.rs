//! The status endpoint of `clara run`: `/health` and `/metrics` on a local address.
