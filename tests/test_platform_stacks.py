"""The reference EKS platform: stacks/*.yaml and environments/ against the seed design.

Numbers asserted here come from the seed architecture (000) and build workflow (001):
VPC CIDRs, subnet CIDRs, EKS 1.34, node group sizing, add-on versions, ALB NodePorts,
mandatory tags, export naming, and the Git sync deployment files per environment.
"""

from __future__ import annotations

import ipaddress
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.decode import decode
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

ROOT = Path(__file__).resolve().parents[1]
STACKS_DIR = ROOT / "stacks"
ENV_DIR = ROOT / "environments"
ENVIRONMENTS = ("dev", "tst", "prd")
REGION = "us-east-1"

EXPECTED_STACKS = {
    "kms",
    "iam",
    "vpc",
    "security-groups",
    "eks-cluster",
    "irsa",
    "eks-nodegroup",
    "eks-addons",
    "cognito",
    "alb",
    "velero-backup",
    "bastion",
}
MANDATORY_TAGS = ("Environment", "Owner", "SecurityLevel", "IaC_Version", "NIST_Control")
# Tag properties whose name is not "Tags".
TAG_PROPERTY_BY_TYPE = {"AWS::Cognito::UserPool": "UserPoolTags"}

STACK_FILES = sorted(STACKS_DIR.glob("*.yaml"))


@cache
def load(stack: str) -> dict[str, Any]:
    template, matches = decode(str(STACKS_DIR / f"{stack}.yaml"))
    assert not matches, f"{stack}: {[str(m) for m in matches]}"
    assert isinstance(template, dict)
    return template


def resources(stack: str, type_: str | None = None) -> dict[str, dict[str, Any]]:
    res = load(stack)["Resources"]
    return {k: v for k, v in res.items() if type_ is None or v["Type"] == type_}


def props(stack: str, logical_id: str) -> dict[str, Any]:
    properties = load(stack)["Resources"][logical_id]["Properties"]
    assert isinstance(properties, dict)
    return properties


def default(stack: str, parameter: str) -> Any:
    return load(stack)["Parameters"][parameter]["Default"]


def resolve_param(stack: str, value: Any) -> Any:
    """A {"Ref": Param} becomes the parameter's default; anything else is returned as is."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        params = load(stack).get("Parameters", {})
        if value["Ref"] in params:
            return params[value["Ref"]].get("Default")
    return value


def tags_of(properties: dict[str, Any], key: str = "Tags") -> dict[str, Any]:
    tags = properties.get(key)
    if tags is None:
        return {}
    if isinstance(tags, list):
        return {t["Key"]: t["Value"] for t in tags}
    assert isinstance(tags, dict)
    assert "Fn::If" not in tags, "tags wrapped in Fn::If are not checked by this test"
    return dict(tags)


def literal_strings(value: Any) -> list[str]:
    """Literal text of a tag value: a plain string, or the template of an Fn::Sub."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return [sub if isinstance(sub, str) else sub[0]]
    return []


def import_names(node: Any) -> list[str]:
    """The Fn::Sub templates of every Fn::ImportValue in a template fragment."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Fn::ImportValue":
                assert isinstance(value, dict) and "Fn::Sub" in value, value
                found.append(value["Fn::Sub"])
            else:
                found.extend(import_names(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(import_names(item))
    return found


def export_names(stack: str) -> list[str]:
    names = []
    for output in load(stack).get("Outputs", {}).values():
        if "Export" in output:
            name = output["Export"]["Name"]
            assert isinstance(name, dict) and isinstance(name.get("Fn::Sub"), str), name
            names.append(name["Fn::Sub"])
    return names


# --------------------------------------------------------------------------- inventory


def test_stack_inventory() -> None:
    assert {p.stem for p in STACK_FILES} == EXPECTED_STACKS


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.stem)
def test_common_parameters(path: Path) -> None:
    params = load(path.stem)["Parameters"]
    assert params["ProjectName"]["Default"] == "platform"
    assert list(params["Environment"]["AllowedValues"]) == ["dev", "tst", "prd"]
    assert "Owner" in params and "SecurityLevel" in params
    assert params["IaCVersion"]["Default"] == "unset"


# --------------------------------------------------------------------------- VPC


def test_vpc_cidrs() -> None:
    assert default("vpc", "VpcCidr") == "10.0.0.0/16"
    assert default("vpc", "PodCidr") == "100.64.0.0/16"
    (vpc,) = resources("vpc", "AWS::EC2::VPC").values()
    assert vpc["Properties"]["CidrBlock"] == {"Ref": "VpcCidr"}
    (secondary,) = resources("vpc", "AWS::EC2::VPCCidrBlock").values()
    assert secondary["Properties"]["CidrBlock"] == {"Ref": "PodCidr"}


def test_subnet_cidrs_and_tiers() -> None:
    by_tier: dict[str, list[str]] = {}
    azs = {}
    for name, res in resources("vpc", "AWS::EC2::Subnet").items():
        p = res["Properties"]
        cidr = resolve_param("vpc", p["CidrBlock"])
        tier = tags_of(p)["Tier"]
        by_tier.setdefault(tier, []).append(cidr)
        assert p.get("MapPublicIpOnLaunch") is False, name
        assert "Fn::GetAZs" in p["AvailabilityZone"]["Fn::Select"][1], name
        azs[name] = p["AvailabilityZone"]["Fn::Select"][0]
    assert sorted(by_tier["public"]) == ["10.0.0.0/20", "10.0.16.0/20", "10.0.32.0/20"]
    assert sorted(by_tier["private"]) == ["10.0.48.0/20", "10.0.64.0/20", "10.0.80.0/20"]
    pods = [ipaddress.IPv4Network(c) for c in by_tier["pod"]]
    assert len(pods) == 3
    assert all(n.subnet_of(ipaddress.IPv4Network("100.64.0.0/16")) for n in pods)
    assert not any(a.overlaps(b) for i, a in enumerate(pods) for b in pods[i + 1 :])
    assert sorted(azs.values()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_nat_gateways_are_parameterised() -> None:
    param = load("vpc")["Parameters"]["NatGatewayCount"]
    assert param["Default"] == 3
    assert list(param["AllowedValues"]) == [1, 3]
    nats = resources("vpc", "AWS::EC2::NatGateway")
    assert len(nats) == 3
    assert sorted(n.get("Condition", "always") for n in nats.values()) == [
        "ThreeNatGateways",
        "ThreeNatGateways",
        "always",
    ]
    assert len(resources("vpc", "AWS::EC2::RouteTable")) == 4  # 1 public + 1 per AZ


def test_flow_log_all_traffic_with_full_format() -> None:
    (flow_log,) = resources("vpc", "AWS::EC2::FlowLog").values()
    p = flow_log["Properties"]
    assert p["TrafficType"] == "ALL"
    assert p["LogDestinationType"] == "cloud-watch-logs"
    fields = set(re.findall(r"\$\{([a-z-]+)\}", p["LogFormat"]))
    expected = (
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets"
        " bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type"
        " pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id"
        " pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path reject-reason"
        " ecs-cluster-arn ecs-cluster-name ecs-container-instance-arn ecs-container-instance-id"
        " ecs-container-id ecs-second-container-id ecs-service-name ecs-task-definition-arn"
        " ecs-task-arn ecs-task-id"
    )
    for field in expected.split():
        assert field in fields, field


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.stem)
def test_log_groups_encrypted_with_retention(path: Path) -> None:
    for name, res in resources(path.stem, "AWS::Logs::LogGroup").items():
        assert "KmsKeyId" in res["Properties"], name
        assert "RetentionInDays" in res["Properties"], name


def test_kms_keys_rotate() -> None:
    keys = resources("kms", "AWS::KMS::Key")
    assert set(keys) == {"EksSecretsKey", "EbsKey", "S3Key", "LogsKey"}
    assert all(k["Properties"]["EnableKeyRotation"] is True for k in keys.values())


# --------------------------------------------------------------------------- security groups


def test_only_open_ingress_is_https_on_alb() -> None:
    open_rules = []
    for name, res in resources("security-groups").items():
        p = res.get("Properties", {})
        rules = (
            p.get("SecurityGroupIngress", []) if res["Type"] == "AWS::EC2::SecurityGroup" else []
        )
        if res["Type"] == "AWS::EC2::SecurityGroupIngress":
            rules = [p]
        open_rules += [
            (name, r["FromPort"], r["ToPort"]) for r in rules if r.get("CidrIp") == "0.0.0.0/0"
        ]
        assert not any(r.get("CidrIpv6") == "::/0" for r in rules), name
    assert open_rules == [("AlbSecurityGroup", 443, 443)]
    assert "SecurityGroupIngress" not in props("security-groups", "BastionSecurityGroup")


def test_nodes_accept_alb_only_on_seed_nodeports() -> None:
    ports = sorted(
        r["Properties"]["FromPort"]
        for r in resources("security-groups", "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Ref": "NodeSecurityGroup"}
        and r["Properties"].get("SourceSecurityGroupId") == {"Ref": "AlbSecurityGroup"}
    )
    assert ports == [30091, 30301, 30446, 30520]


# --------------------------------------------------------------------------- EKS


def test_eks_cluster() -> None:
    assert default("eks-cluster", "KubernetesVersion") == "1.34"
    cluster = resources("eks-cluster")["Cluster"]
    p = cluster["Properties"]
    assert p["Version"] == {"Ref": "KubernetesVersion"}
    assert p["ResourcesVpcConfig"]["EndpointPrivateAccess"] is True
    assert p["ResourcesVpcConfig"]["EndpointPublicAccess"] is False
    assert p["EncryptionConfig"][0]["Resources"] == ["secrets"]
    types = {t["Type"] for t in p["Logging"]["ClusterLogging"]["EnabledTypes"]}
    assert types == {"api", "audit", "authenticator", "controllerManager", "scheduler"}
    depends = cluster["DependsOn"]
    assert "ClusterLogGroup" in ([depends] if isinstance(depends, str) else depends)
    log_group = props("eks-cluster", "ClusterLogGroup")["LogGroupName"]["Fn::Sub"]
    assert log_group == "/aws/eks/${ProjectName}-${Environment}-eks/cluster"
    assert p["Name"] == {"Fn::Sub": "${ProjectName}-${Environment}-eks"}
    assert resources("eks-cluster", "AWS::IAM::OIDCProvider")


def test_certificate_authority_is_not_exported() -> None:
    for stack in EXPECTED_STACKS:
        for output in load(stack).get("Outputs", {}).values():
            if "Export" in output:
                assert "CertificateAuthorityData" not in str(output["Value"]), stack


def test_node_group_sizing() -> None:
    assert default("eks-nodegroup", "InstanceType") == "t3a.xlarge"
    assert default("eks-nodegroup", "MinSize") == 2
    assert default("eks-nodegroup", "DesiredSize") == 3
    assert default("eks-nodegroup", "MaxSize") == 10
    assert default("eks-nodegroup", "KubernetesVersion") == "1.34"
    ng = props("eks-nodegroup", "NodeGroup")
    assert ng["AmiType"] == "AL2023_x86_64_STANDARD"
    assert import_names(ng["Subnets"]) == ["${ProjectName}-${Environment}-vpc-PodSubnetIds"]
    scaling = {k: resolve_param("eks-nodegroup", v) for k, v in ng["ScalingConfig"].items()}
    assert scaling == {"MinSize": 2, "DesiredSize": 3, "MaxSize": 10}
    lt = props("eks-nodegroup", "NodeLaunchTemplate")["LaunchTemplateData"]
    (root,) = lt["BlockDeviceMappings"]
    ebs = {k: resolve_param("eks-nodegroup", v) for k, v in root["Ebs"].items()}
    assert ebs["VolumeSize"] == 100
    assert ebs["VolumeType"] == "gp3"
    assert ebs["Iops"] == 3000 and ebs["Throughput"] == 125
    assert ebs["Encrypted"] is True
    assert lt["MetadataOptions"]["HttpTokens"] == "required"


def test_addon_versions() -> None:
    seed = {
        "vpc-cni": "v1.21.1",
        "coredns": "v1.12.4",
        "kube-proxy": "v1.34.1",
        "aws-ebs-csi-driver": "v1.54.0",
    }
    addons = {
        a["Properties"]["AddonName"]: a["Properties"]
        for a in resources("eks-addons", "AWS::EKS::Addon").values()
    }
    assert set(addons) == set(seed)
    for name, version in seed.items():
        resolved = resolve_param("eks-addons", addons[name]["AddonVersion"])
        assert re.fullmatch(re.escape(version) + r"-eksbuild\.\d+", resolved), (name, resolved)
    assert import_names(addons["aws-ebs-csi-driver"]["ServiceAccountRoleArn"]) == [
        "${ProjectName}-${Environment}-irsa-EbsCsiDriverRoleArn"
    ]


def test_irsa_roles_trust_the_cluster_oidc_provider() -> None:
    roles = resources("irsa", "AWS::IAM::Role")
    assert set(roles) == {
        "LoadBalancerControllerRole",
        "EbsCsiDriverRole",
        "VpcCniRole",
        "VeleroRole",
    }
    for name, role in roles.items():
        trust = role["Properties"]["AssumeRolePolicyDocument"]
        assert "${ProjectName}-${Environment}-eks-cluster-OidcProviderArn" in import_names(trust), (
            name
        )
        assert "sts:AssumeRoleWithWebIdentity" in trust["Fn::Sub"][0], name


# ------------------------------------------------------------ ALB, Cognito, S3, bastion


def test_alb_nodeport_target_groups_and_rules() -> None:
    tgs = {
        name: resolve_param("alb", tg["Properties"]["Port"])
        for name, tg in resources("alb", "AWS::ElasticLoadBalancingV2::TargetGroup").items()
    }
    assert tgs == {
        "SignozTargetGroup": 30301,
        "HeadlampTargetGroup": 30446,
        "KubecostTargetGroup": 30091,
        "KialiTargetGroup": 30520,
    }
    rules = {}
    for rule in resources("alb", "AWS::ElasticLoadBalancingV2::ListenerRule").values():
        p = rule["Properties"]
        path = p["Conditions"][0]["PathPatternConfig"]["Values"][0]
        kinds = [a["Type"] for a in p["Actions"]]
        target = next(
            (a["TargetGroupArn"]["Ref"] for a in p["Actions"] if a["Type"] == "forward"), None
        )
        rules[p["Priority"]] = (path, kinds, target)
    assert rules == {
        5: ("/headlamp", ["redirect"], None),
        10: ("/headlamp/*", ["forward"], "HeadlampTargetGroup"),
        15: ("/kubecost", ["redirect"], None),
        20: ("/kubecost/*", ["authenticate-cognito", "forward"], "KubecostTargetGroup"),
        25: ("/kiali", ["redirect"], None),
        30: ("/kiali/*", ["authenticate-cognito", "forward"], "KialiTargetGroup"),
    }
    https = props("alb", "HttpsListener")
    assert https["Port"] == 443 and https["Protocol"] == "HTTPS"
    assert default("alb", "SslPolicy").startswith("ELBSecurityPolicy-TLS13-")
    assert [a["Type"] for a in https["DefaultActions"]] == ["authenticate-cognito", "forward"]
    assert https["DefaultActions"][1]["TargetGroupArn"] == {"Ref": "SignozTargetGroup"}
    http = props("alb", "HttpRedirectListener")
    assert http["Port"] == 80
    assert [a["Type"] for a in http["DefaultActions"]] == ["redirect"]
    assert http["DefaultActions"][0]["RedirectConfig"]["Protocol"] == "HTTPS"
    assert props("alb", "LoadBalancer")["Scheme"] == "internet-facing"


def test_cognito_requires_mfa() -> None:
    pool = props("cognito", "UserPool")
    assert pool["MfaConfiguration"] == "ON"
    assert pool["UserPoolAddOns"]["AdvancedSecurityMode"] == "ENFORCED"
    assert resources("cognito", "AWS::Cognito::UserPoolDomain")
    assert "HeadlampClient" in resources("cognito", "AWS::Cognito::UserPoolClient")


def test_velero_bucket() -> None:
    bucket = props("velero-backup", "BackupBucket")
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert all(v is True for v in bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["LifecycleConfiguration"]["Rules"]
    statements = props("velero-backup", "BackupBucketPolicy")["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny"
        and s["Condition"].get("Bool", {}).get("aws:SecureTransport") == "false"
        for s in statements
    )


def test_bastion() -> None:
    param = load("bastion")["Parameters"]["LatestAmiId"]
    assert param["Type"] == "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
    assert (
        param["Default"] == "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    )
    lt = props("bastion", "BastionLaunchTemplate")["LaunchTemplateData"]
    assert lt["MetadataOptions"]["HttpTokens"] == "required"
    ebs = lt["BlockDeviceMappings"][0]["Ebs"]
    assert ebs["Encrypted"] is True and ebs["VolumeType"] == "gp3"
    instance = props("bastion", "BastionInstance")
    assert "KeyName" not in instance
    assert import_names(instance["SubnetId"]) == [
        "${ProjectName}-${Environment}-vpc-PrivateSubnet1Id"
    ]


# --------------------------------------------------------------------------- tags


def _tag_property(type_: str) -> str | None:
    if type_ in TAG_PROPERTY_BY_TYPE:
        return TAG_PROPERTY_BY_TYPE[type_]
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(REGION, type_).schema
    return "Tags" if "Tags" in schema.get("properties", {}) else None


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.stem)
def test_every_taggable_resource_has_mandatory_tags(path: Path) -> None:
    checked = 0
    for name, res in resources(path.stem).items():
        key = _tag_property(res["Type"])
        if key is None:
            continue
        tags = tags_of(res.get("Properties", {}), key)
        missing = [t for t in MANDATORY_TAGS if t not in tags]
        assert not missing, f"{name} ({res['Type']}) lacks {missing}"
        assert tags["IaC_Version"] == {"Ref": "IaCVersion"}, name
        assert tags["Environment"] == {"Ref": "Environment"}, name
        checked += 1
    assert checked, "every stack creates at least one taggable resource"


def _all_tag_values(node: Any) -> list[Any]:
    values: list[Any] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("Tags", "UserPoolTags"):
                values += (
                    list(value.values()) if isinstance(value, dict) else [t["Value"] for t in value]
                )
            else:
                values += _all_tag_values(value)
    elif isinstance(node, list):
        for item in node:
            values += _all_tag_values(item)
    return values


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.stem)
def test_no_comma_in_tag_values(path: Path) -> None:
    values = _all_tag_values(load(path.stem)["Resources"])
    assert values
    for value in values:
        for text in literal_strings(value):
            assert "," not in text, text


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.stem)
def test_nist_control_tag_format(path: Path) -> None:
    for value in _all_tag_values(load(path.stem)["Resources"]):
        if isinstance(value, str) and re.match(r"^[A-Z]{2}-\d", value):
            assert re.fullmatch(r"[A-Z]{2}-\d+(_[A-Z]{2}-\d+)*", value), value


# --------------------------------------------------------------------------- exports / imports


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.stem)
def test_export_names_are_prefixed(path: Path) -> None:
    for name in export_names(path.stem):
        assert name.startswith(f"${{ProjectName}}-${{Environment}}-{path.stem}-"), name


def test_exports_are_unique_and_imports_resolve() -> None:
    owner: dict[str, str] = {}
    for stack in EXPECTED_STACKS:
        for name in export_names(stack):
            assert name not in owner, f"{name} exported by {owner.get(name)} and {stack}"
            owner[name] = stack
    for stack in EXPECTED_STACKS:
        for name in import_names(load(stack)):
            assert name.startswith("${ProjectName}-${Environment}-"), (stack, name)
            assert name in owner, f"{stack} imports {name}, which no stack exports"
            assert owner[name] != stack, f"{stack} imports its own export {name}"


def _dependency_graph() -> dict[str, set[str]]:
    owner = {name: stack for stack in EXPECTED_STACKS for name in export_names(stack)}
    return {stack: {owner[n] for n in import_names(load(stack))} for stack in EXPECTED_STACKS}


def test_stack_dependencies_are_acyclic_and_follow_seed_order() -> None:
    graph = _dependency_graph()
    order: list[str] = []
    pending = dict(graph)
    while pending:
        ready = sorted(s for s, deps in pending.items() if deps <= set(order))
        assert ready, f"import cycle among {sorted(pending)}"
        order += ready
        for s in ready:
            del pending[s]
    position = {s: i for i, s in enumerate(order)}
    # seed 001: IAM -> VPC -> SGs -> EKS cluster -> node groups -> add-ons
    for before, after in [
        ("iam", "vpc"),
        ("vpc", "security-groups"),
        ("security-groups", "eks-cluster"),
        ("eks-cluster", "eks-nodegroup"),
        ("eks-nodegroup", "eks-addons"),
        ("irsa", "eks-addons"),
    ]:
        assert position[before] < position[after], (before, after, order)


# --------------------------------------------------------------------------- environments


@cache
def env_file(env: str) -> dict[str, Any]:
    data = yaml.safe_load((ENV_DIR / f"{env}.yaml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_file(env: str) -> None:
    data = env_file(env)
    assert data["name"] == env
    assert re.fullmatch(r"\d{12}", data["account_id"])
    assert data["region"] == "us-east-1"
    assert data["role_arn"] == f"arn:aws:iam::{data['account_id']}:role/infra-bot-deploy"
    assert data["next"] == {"dev": "tst", "tst": "prd", "prd": None}[env]
    assert data["kubernetes_version"] == "1.34"
    assert data["project"] == "platform"
    assert data["cost"]["max_monthly_increase_usd"] > 0
    assert 0 < data["cost"]["max_monthly_increase_percent"] <= 100


def test_accounts_differ_per_environment() -> None:
    assert len({env_file(e)["account_id"] for e in ENVIRONMENTS}) == 3


DEPLOYMENT_FILES = sorted(ENV_DIR.glob("*/*.yaml"))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_stack_has_a_deployment_file(env: str) -> None:
    assert {p.stem for p in (ENV_DIR / env).glob("*.yaml")} == EXPECTED_STACKS


@pytest.mark.parametrize("path", DEPLOYMENT_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_deployment_file(path: Path) -> None:
    env = path.parent.name
    assert env in ENVIRONMENTS
    data = yaml.safe_load(path.read_text())
    assert set(data) <= {"template-file-path", "parameters", "tags"}
    assert data["template-file-path"] == f"stacks/{path.stem}.yaml"
    assert (ROOT / data["template-file-path"]).is_file()
    declared = load(path.stem)["Parameters"]
    params = data["parameters"]
    assert set(params) <= set(declared), set(params) - set(declared)
    assert "IaCVersion" not in params  # infra-bot sets it at deploy time
    assert params["Environment"] == env
    assert params["ProjectName"] == env_file(env)["project"]
    for key, value in params.items():
        allowed = declared[key].get("AllowedValues")
        if allowed is not None:
            assert str(value) in {str(v) for v in allowed}, (key, value)
    assert data["tags"]["Environment"] == env
    assert all("," not in str(v) for v in data["tags"].values())


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_sizing_matches_seed(env: str) -> None:
    ng = yaml.safe_load((ENV_DIR / env / "eks-nodegroup.yaml").read_text())["parameters"]
    assert ng["InstanceType"] == "t3a.xlarge"
    assert (ng["MinSize"], ng["DesiredSize"], ng["MaxSize"]) == (2, 3, 10)
    cluster = yaml.safe_load((ENV_DIR / env / "eks-cluster.yaml").read_text())["parameters"]
    assert cluster["KubernetesVersion"] == env_file(env)["kubernetes_version"]
    assert ng["KubernetesVersion"] == cluster["KubernetesVersion"]
    vpc = yaml.safe_load((ENV_DIR / env / "vpc.yaml").read_text())["parameters"]
    assert vpc["NatGatewayCount"] == 3


def test_usage_assumptions_cover_every_environment() -> None:
    usage = yaml.safe_load((ENV_DIR / "usage.yaml").read_text())
    keys: set[str] = set(usage["environments"]["dev"])
    for env in ENVIRONMENTS:
        values = usage["environments"][env]
        assert all(isinstance(v, int | float) and v >= 0 for v in values.values())
        assert set(values) == keys, env
    assert {"nat_gateway_processed_gb", "cloudwatch_logs_ingested_gb", "alb_lcu"} <= keys
    assert {"s3_storage_gb", "cognito_mau"} <= keys
    lines = [
        line
        for line in (ENV_DIR / "usage.yaml").read_text().splitlines()
        if re.match(r"^\s{4}\w+: ", line)
    ]
    assert lines and all("#" in line for line in lines), "every usage value carries a comment"
