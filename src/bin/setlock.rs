#![no_main]
daemontools::program!(daemontools::cmd::setlock::main);
