#![no_main]
daemontools::program!(daemontools::cmd::svstat::main);
