#!/usr/bin/env bash
# Ensure the twostep key secrets exist in Key Vault; never replace one that exists.
#
# Runs as azd's postprovision hook (azure.yaml), signed in as the deploying user, who holds "Key Vault
# Secrets Officer" on the vault (main.bicep principalId, modules/deployer.bicep). azd passes the deployment's
# outputs as environment variables; by hand, with any identity holding that role:
#
#   VAULT_NAME=kv-xxxx RESOURCE_GROUP=rg-xxxx FUNCTION_APP_NAME=func-xxxx bash infra/scripts/ensure-keys.sh
#
# For each name in SECRET_NAMES:
#   - the secret exists            -> left untouched (its value is never read);
#   - the secret is soft-deleted   -> recovered (the old keys still decrypt the stored TOTP secrets);
#   - the secret does not exist    -> created as "k<yyyymmdd>:<base64 of KEY_BYTES random bytes>", or, for
#                                     the webhook secret (WEBHOOK_SECRET_NAME), "whsec_<base64 of KEY_BYTES
#                                     random bytes>" (Standard Webhooks).
# The key is generated here and handed to az through a private temporary file: it never appears in an
# argument list, in the output, in the deployment history or in the hook's log.
#
# The deploying identity's Key Vault Secrets Officer assignment on the vault (main.bicep grantDeployerKeyAccess)
# is needed only to create the keys: once they all exist it is removed (as PRINCIPAL_ID, azd:
# AZURE_PRINCIPAL_ID), so nobody holds a standing right to read or replace them. KEEP_DEPLOYER_ACCESS=true
# keeps it. A failed removal is reported, with the command to run, but does not fail the hook.
#
# When a secret was created or recovered the Function App is restarted (RESTART=auto, the default): an app
# that booted before its Key Vault references could resolve would otherwise keep them unresolved for up to
# 24 hours. RESTART=always restarts anyway (e.g. after a run whose restart failed), RESTART=never skips it.
set -euo pipefail
umask 077

VAULT_NAME="${VAULT_NAME:-${AZURE_KEY_VAULT_NAME:-}}"
VAULT_NAME="${VAULT_NAME:?VAULT_NAME (or azd output AZURE_KEY_VAULT_NAME) is required}"
RESOURCE_GROUP="${RESOURCE_GROUP:-${AZURE_RESOURCE_GROUP:-}}"
FUNCTION_APP_NAME="${FUNCTION_APP_NAME:-${AZURE_FUNCTION_APP_NAME:-}}"
# azd's subscription, which need not be the az CLI's default one.
SUBSCRIPTION="${SUBSCRIPTION:-${AZURE_SUBSCRIPTION_ID:-}}"
RESTART="${RESTART:-auto}"
PRINCIPAL_ID="${PRINCIPAL_ID:-${AZURE_PRINCIPAL_ID:-}}"
KEEP_DEPLOYER_ACCESS="${KEEP_DEPLOYER_ACCESS:-false}"
SECRETS_OFFICER_ROLE="b86a8fe4-44ce-4948-aee5-eccb2c155cd7"  # Key Vault Secrets Officer
SECRET_NAMES="${SECRET_NAMES:-mfa-hmac-keys mfa-encryption-keys mfa-webhook-secret}"
WEBHOOK_SECRET_NAME="${WEBHOOK_SECRET_NAME:-mfa-webhook-secret}"
KEY_BYTES="${KEY_BYTES:-32}"
# Role assignments made in the same deployment can take minutes to reach Key Vault: retry meanwhile.
RETRIES="${RETRIES:-30}"
RETRY_DELAY="${RETRY_DELAY:-10}"
CONTENT_TYPE="twostep keys: keyid:base64key[,keyid:base64key...]; first is current"
WEBHOOK_CONTENT_TYPE="twostep webhook secret: whsec_base64 (Standard Webhooks)"

if ! [[ "$KEY_BYTES" =~ ^[0-9]+$ ]] || (( KEY_BYTES < 32 || KEY_BYTES > 128 )); then
  echo "KEY_BYTES must be between 32 and 128" >&2
  exit 2
fi
if [[ ! "$RESTART" =~ ^(auto|always|never)$ ]]; then
  echo "RESTART must be auto, always or never" >&2
  exit 2
fi

retry() {
  local attempt=1
  until "$@"; do
    if (( attempt >= RETRIES )); then
      echo "giving up after $attempt attempts: $1" >&2
      return 1
    fi
    attempt=$((attempt + 1))
    sleep "$RETRY_DELAY"
  done
}

# Names only: listing never returns secret values.
list_names() {
  az keyvault secret list --vault-name "$VAULT_NAME" --query "[].name" --output tsv
}

list_deleted_names() {
  az keyvault secret list-deleted --vault-name "$VAULT_NAME" --query "[].name" --output tsv
}

new_key_file() {
  local name="$1" file prefix
  file="$(mktemp)"
  prefix="k$(date -u +%Y%m%d):"
  if [[ "$name" == "$WEBHOOK_SECRET_NAME" ]]; then
    prefix="whsec_"
  fi
  printf '%s%s' "$prefix" "$(head -c "$KEY_BYTES" /dev/urandom | base64 | tr -d '\n')" > "$file"
  printf '%s' "$file"
}

create_secret() {
  local name="$1" file content_type="$CONTENT_TYPE"
  file="$(new_key_file "$name")"
  if [[ "$name" == "$WEBHOOK_SECRET_NAME" ]]; then
    content_type="$WEBHOOK_CONTENT_TYPE"
  fi
  # --output none: the create response would otherwise echo the value into the log.
  if az keyvault secret set --vault-name "$VAULT_NAME" --name "$name" --file "$file" --encoding utf-8 \
      --content-type "$content_type" --output none; then
    rm -f "$file"
    return 0
  fi
  rm -f "$file"
  return 1
}

recover_secret() {
  local name="$1" attempt
  retry az keyvault secret recover --vault-name "$VAULT_NAME" --name "$name" --output none
  for attempt in $(seq 1 "$RETRIES"); do
    if list_names | grep -qxF "$name"; then
      return 0
    fi
    sleep "$RETRY_DELAY"
  done
  echo "recovered $name but it is not listed yet" >&2
  return 1
}

existing="$(retry list_names)"
deleted=""
created=()
kept=()
recovered=()
for name in $SECRET_NAMES; do
  if grep -qxF "$name" <<< "$existing"; then
    kept+=("$name")
    continue
  fi
  if [[ -z "$deleted" ]]; then
    deleted="$(retry list_deleted_names)"
    deleted="${deleted:-<none>}"
  fi
  if grep -qxF "$name" <<< "$deleted"; then
    recover_secret "$name"
    recovered+=("$name")
  else
    retry create_secret "$name"
    created+=("$name")
  fi
done

echo "key secrets in $VAULT_NAME: kept [${kept[*]-}] recovered [${recovered[*]-}] created [${created[*]-}]"

revoke_deployer_access() {
  local scope sub=()
  if [[ "$KEEP_DEPLOYER_ACCESS" == "true" || -z "$PRINCIPAL_ID" ]]; then
    return 0
  fi
  if [[ -n "$SUBSCRIPTION" ]]; then
    sub=(--subscription "$SUBSCRIPTION")
  fi
  if scope="$(az keyvault show --name "$VAULT_NAME" "${sub[@]}" --query id --output tsv)" && [[ -n "$scope" ]] \
      && az role assignment delete --assignee "$PRINCIPAL_ID" --role "$SECRETS_OFFICER_ROLE" --scope "$scope" \
           "${sub[@]}" --output none; then
    echo "removed the deploying identity's Key Vault Secrets Officer role on $VAULT_NAME (the keys exist)"
  else
    echo "WARNING: could not remove Key Vault Secrets Officer for $PRINCIPAL_ID on $VAULT_NAME; remove it with:" \
         "az role assignment delete --assignee $PRINCIPAL_ID --role 'Key Vault Secrets Officer'" \
         "--scope \$(az keyvault show --name $VAULT_NAME --query id -o tsv)" >&2
  fi
}
revoke_deployer_access

changed=$(( ${#created[@]} + ${#recovered[@]} ))
if [[ "$RESTART" == "never" ]] || [[ "$RESTART" == "auto" && "$changed" -eq 0 ]]; then
  exit 0
fi
if [[ -z "$RESOURCE_GROUP" || -z "$FUNCTION_APP_NAME" ]]; then
  echo "cannot restart the app: RESOURCE_GROUP and FUNCTION_APP_NAME (azd: AZURE_RESOURCE_GROUP," \
       "AZURE_FUNCTION_APP_NAME) are required; restart it yourself so its Key Vault references resolve" >&2
  exit 1
fi
target=(--resource-group "$RESOURCE_GROUP" --name "$FUNCTION_APP_NAME")
if [[ -n "$SUBSCRIPTION" ]]; then
  target+=(--subscription "$SUBSCRIPTION")
fi
if ! retry az functionapp restart "${target[@]}" --output none; then
  echo "the keys exist but $FUNCTION_APP_NAME was not restarted: run again with RESTART=always" >&2
  exit 1
fi
echo "restarted $FUNCTION_APP_NAME so its Key Vault references resolve"
