"""VIM driver plug-ins: one `VimDriver` implementation per SOL003 vimType."""
