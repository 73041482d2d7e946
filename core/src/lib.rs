//! Pure logic of ferrolb (allocation, selectors, leader choice); no I/O.
