#![no_main]
daemontools::program!(daemontools::cmd::envdir::main);
