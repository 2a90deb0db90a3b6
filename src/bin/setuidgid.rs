#![no_main]
daemontools::program!(daemontools::cmd::setuidgid::main);
