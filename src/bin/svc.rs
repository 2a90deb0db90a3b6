#![no_main]
daemontools::program!(daemontools::cmd::svc::main);
