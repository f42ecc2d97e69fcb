#!/usr/bin/env bash
# The demo as a person would script it from the seed README: the same steps
# and the same manifests as site.yml, with kubectl, istioctl and the AWS CLI.
#   baseline.sh MANIFEST_DIR ADDON_DIR NODE_SG CLUSTER_SG [RESOLVER]
# RESOLVER, given the load balancer's hostname on stdin, prints the base URL
# to reach it (default: http://HOSTNAME).
# The environment (KUBECONFIG, AWS_*) says where the cluster and AWS are.
set -euo pipefail
manifests=$1 addons=$2 node_sg=$3 cluster_sg=$4 resolver=${5:-}

# Inbound rules for Istio on the nodes; a rerun meets "already exists".
allow() {
  aws ec2 authorize-security-group-ingress --group-id "$node_sg" --ip-permissions "$1" >/dev/null 2>&1 \
    || aws ec2 describe-security-groups --group-ids "$node_sg" --output json | grep -q "\"FromPort\": $2,"
}
allow "IpProtocol=tcp,FromPort=15017,ToPort=15017,UserIdGroupPairs=[{GroupId=$cluster_sg}]" 15017
allow "IpProtocol=tcp,FromPort=15012,ToPort=15012,UserIdGroupPairs=[{GroupId=$cluster_sg}]" 15012
allow "IpProtocol=tcp,FromPort=15010,ToPort=15010,IpRanges=[{CidrIp=192.168.0.0/16}]" 15010
allow "IpProtocol=tcp,FromPort=15014,ToPort=15014,IpRanges=[{CidrIp=192.168.0.0/16}]" 15014
allow "IpProtocol=tcp,FromPort=20001,ToPort=20001,IpRanges=[{CidrIp=203.0.113.0/24}]" 20001
allow "IpProtocol=tcp,FromPort=9090,ToPort=9090,IpRanges=[{CidrIp=203.0.113.0/24}]" 9090

istioctl install -y --set profile=demo >/dev/null

kubectl apply --server-side -f "$manifests/apps.yaml" >/dev/null
kubectl label namespace my-app istio-injection=enabled --overwrite >/dev/null
kubectl rollout status deployment/my-app-v1 deployment/my-app-v2 -n my-app --timeout=120s >/dev/null

# Istio's docs: when the addons fail to apply because their CRD is not served yet, apply them again.
kubectl apply --server-side -f "$addons" >/dev/null 2>&1 || {
  kubectl apply --server-side --validate=false -f "$addons" >/dev/null 2>&1 || true
  kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
  kubectl apply --server-side -f "$addons" >/dev/null
}
for addon in kiali prometheus grafana jaeger; do
  kubectl rollout status "deployment/$addon" -n istio-system --timeout=120s >/dev/null
done

kubectl apply --server-side -f "$manifests/routes.yaml" >/dev/null
kubectl apply --server-side -f "$manifests/nginx.yaml" >/dev/null
kubectl rollout status deployment/nginx -n my-app --timeout=120s >/dev/null

kubectl wait --for=jsonpath='{.status.loadBalancer.ingress}' service/istio-ingressgateway -n istio-system \
  --timeout=120s >/dev/null
lb=$(kubectl get service istio-ingressgateway -n istio-system \
  -o jsonpath='{.status.loadBalancer.ingress[0].hostname}{.status.loadBalancer.ingress[0].ip}')
if [ -n "$resolver" ]; then ingress=$(echo "$lb" | $resolver); else ingress="http://$lb"; fi

# The proof a person looks at: each route answers, through the gateway and through NGINX.
for path in /v1 /v2; do
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$ingress$path")
    [ "$code" = 200 ] || { echo "$ingress$path answered $code" >&2; exit 1; }
    kubectl get --raw "/api/v1/namespaces/my-app/services/nginx-svc:80/proxy$path" >/dev/null
  done
done
