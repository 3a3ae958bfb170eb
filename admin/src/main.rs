//! `netsensor-admin`: keeps netsensor's indices healthy (in progress).

fn main() {}
