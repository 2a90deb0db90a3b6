#![no_main]
daemontools::program!(daemontools::cmd::svok::main);
