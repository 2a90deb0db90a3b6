#![no_main]
daemontools::program!(daemontools::cmd::svshutdown::main);
