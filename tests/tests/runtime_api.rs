//! Smoke tests of the API the two runtimes share (`Server`, `ShutdownHandle`,
//! `ClientConn`), over loopback with raw `std::net::TcpStream`s. One body,
//! `runtime_api/body.rs`, is compiled once per runtime. Every wait is
//! bounded: each test body runs under `within`.

mod std_runtime {
    use chat_runtime_std::{ClientConn, Server, ShutdownHandle};
    include!("runtime_api/body.rs");
}

mod smol_runtime {
    use chat_runtime_smol::{ClientConn, Server, ShutdownHandle};
    include!("runtime_api/body.rs");
}
