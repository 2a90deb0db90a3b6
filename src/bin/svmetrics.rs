#![cfg_attr(not(test), no_main)]
daemontools::program!(daemontools::cmd::svmetrics::main);
