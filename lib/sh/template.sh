# shellcheck shell=bash
# lib/sh/template.sh — fills the @NAME@ placeholders of the shipped
# configuration templates (nginx/*.in, deploy/apache/*.in). It owns the
# substitution only, not where the results go. Source it; it defines a
# function and sets no shell options of its own.
#
#   fill_template NAME VALUE [NAME VALUE]... <TEMPLATE >RESULT

# Copies stdin to stdout with every @NAME@ replaced by its VALUE, literally
# (a VALUE may hold any character); trailing newlines become one.
fill_template() {
	local text
	text=$(cat)
	while (($# >= 2)); do
		text=${text//"@$1@"/"$2"}
		shift 2
	done
	printf '%s\n' "$text"
}
