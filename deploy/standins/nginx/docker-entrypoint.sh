#!/bin/sh
# The official nginx image's template step (20-envsubst-on-templates.sh): every
# NGINX_ENVSUBST_TEMPLATE_DIR/**/*NGINX_ENVSUBST_TEMPLATE_SUFFIX (default
# /etc/nginx/templates/*.template) is rendered into NGINX_ENVSUBST_OUTPUT_DIR (default
# /etc/nginx/conf.d) with envsubst, replacing only variables defined in the environment (and
# matching NGINX_ENVSUBST_FILTER), so nginx's own $variables survive.
set -o errexit
if [ "$1" = nginx ] || [ "$1" = nginx-debug ]; then
    template_dir="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
    suffix="${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}"
    output_dir="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
    filter="${NGINX_ENVSUBST_FILTER:-}"
    # shellcheck disable=SC2016,SC2046
    defined_envs=$(printf '${%s} ' $(awk "END { for (name in ENVIRON) { print ( name ~ /${filter}/ ) ? name : \"\" } }" </dev/null))
    if [ -d "$template_dir" ]; then
        find "$template_dir" -follow -type f -name "*$suffix" -print | while read -r template; do
            relative="${template#"$template_dir/"}"
            output="$output_dir/${relative%"$suffix"}"
            mkdir -p "$(dirname "$output")"
            echo "$0: running envsubst on $template to $output"
            envsubst "$defined_envs" < "$template" > "$output"
        done
    fi
fi
exec "$@"
