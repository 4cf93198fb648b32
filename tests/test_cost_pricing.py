"""Pricing each resource type, with the expected figure worked out by hand.

Prices used (us-east-1 on-demand, bot/cost/prices.json): NAT $0.045/h + $0.045/GB,
public IPv4 $0.005/h, EKS $0.10/h (extended $0.60/h), gp3 $0.08/GB-month
(+$0.005/IOPS over 3,000, +$0.04/MB/s over 125), gp2 $0.10, io1/io2 $0.125/GB,
io1 $0.065/IOPS, ALB/NLB $0.0225/h + $0.008/LCU-h ($0.006/NLCU-h), interface
endpoint $0.01/AZ-h + $0.01/GB, KMS $1/key + $0.03/10k requests, CloudWatch Logs
$0.50/GB ingested + $0.03/GB-month, S3 $0.023/GB + $0.005/1k PUT + $0.0004/1k GET,
Secrets Manager $0.40 + $0.05/10k calls, Cognito Plus $0.02/MAU, Essentials
$0.015/MAU over 10,000. 730 hours a month.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.cost.estimate import StackInput, price_stacks, usage_items
from bot.cost.model import LineItem, StackEstimate, Status
from bot.cost.prices import load_embedded
from bot.cost.usage import UsageError, UsageValues, allocate, parse_usage
from bot.repo.templates import Template

TABLE = load_embedded()
DAY = date(2026, 11, 23)
H = 730


def stack(
    resources: dict[str, Any],
    *,
    params: dict[str, str] | None = None,
    declared: dict[str, Any] | None = None,
    conditions: dict[str, Any] | None = None,
    usage: dict[str, float] | None = None,
    per_resource: dict[str, dict[str, float]] | None = None,
    on: date = DAY,
) -> StackEstimate:
    body: dict[str, Any] = {"Resources": resources}
    if declared:
        body["Parameters"] = declared
    if conditions:
        body["Conditions"] = conditions
    src = StackInput("s", Template(Path("t.yaml"), body), "t.yaml", params or {})
    values = UsageValues(usage or {}, per_resource or {}, "usage.yaml")
    (est,) = price_stacks([src], values, TABLE, on)
    assert est.error is None, est.error
    return est


def one(rtype: str, props: dict[str, Any], **kw: Any) -> LineItem:
    est = stack({"R": {"Type": rtype, "Properties": props}}, **kw)
    return next(i for i in est.items if i.logical_id == "R")


def lt(mappings: list[dict[str, Any]], **data: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::EC2::LaunchTemplate",
        "Properties": {"LaunchTemplateData": {"BlockDeviceMappings": mappings, **data}},
    }


def gp3(size: float, **extra: Any) -> dict[str, Any]:
    return {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": size, "VolumeType": "gp3", **extra}}


CASES: list[tuple[str, str, dict[str, Any], dict[str, float], float, Status]] = [
    # id, type, properties, usage, expected monthly, status
    ("nat-with-usage", "AWS::EC2::NatGateway", {}, {"nat_gateway_processed_gb": 100},
     0.045 * H + 100 * 0.045, Status.PRICED),  # 32.85 + 4.50 = 37.35
    ("nat-no-usage", "AWS::EC2::NatGateway", {}, {}, 0.045 * H, Status.USAGE),  # 32.85
    ("eip", "AWS::EC2::EIP", {"Domain": "vpc"}, {}, 0.005 * H, Status.PRICED),  # 3.65
    ("eks-1.34-standard", "AWS::EKS::Cluster", {"Version": "1.34"}, {},
     0.10 * H, Status.PRICED),  # 73.00
    ("eks-1.31-extended", "AWS::EKS::Cluster", {"Version": "1.31"}, {},
     0.60 * H, Status.PRICED),  # 438.00: 1.31 left standard support 2025-11-26
    ("eks-1.31-policy-standard", "AWS::EKS::Cluster",
     {"Version": "1.31", "UpgradePolicy": {"SupportType": "STANDARD"}}, {},
     0.10 * H, Status.PRICED),  # auto-upgraded instead of extended support
    ("eks-1.29-past-extended", "AWS::EKS::Cluster", {"Version": "1.29"}, {},
     0.10 * H, Status.PRICED),  # extended support ended 2026-03-23
    ("ec2-m5.large-ami-root", "AWS::EC2::Instance", {"InstanceType": "m5.large"}, {},
     0.096 * H + 8 * 0.08, Status.PRICED),  # 70.08 + 0.64 = 70.72
    ("ec2-t3a.medium-monitoring-30gb", "AWS::EC2::Instance",
     {"InstanceType": "t3a.medium", "Monitoring": True, "BlockDeviceMappings": [gp3(30)]}, {},
     0.0376 * H + 30 * 0.08 + 2.10, Status.PRICED),  # 27.448 + 2.40 + 2.10 = 31.948
    ("ebs-gp3-above-baseline", "AWS::EC2::Volume",
     {"Size": 500, "VolumeType": "gp3", "Iops": 6000, "Throughput": 250}, {},
     500 * 0.08 + 3000 * 0.005 + 125 * 0.04, Status.PRICED),  # 40 + 15 + 5 = 60
    ("ebs-gp3-baseline", "AWS::EC2::Volume",
     {"Size": 100, "VolumeType": "gp3", "Iops": 3000, "Throughput": 125}, {},
     100 * 0.08, Status.PRICED),  # 8.00: baseline IOPS and throughput are free
    ("ebs-gp2", "AWS::EC2::Volume", {"Size": 100, "VolumeType": "gp2"}, {},
     100 * 0.10, Status.PRICED),  # 10.00
    ("ebs-default-type-is-gp2", "AWS::EC2::Volume", {"Size": 100}, {},
     100 * 0.10, Status.PRICED),
    ("ebs-io1", "AWS::EC2::Volume", {"Size": 100, "VolumeType": "io1", "Iops": 1000}, {},
     100 * 0.125 + 1000 * 0.065, Status.PRICED),  # 12.50 + 65.00 = 77.50
    ("ebs-io2-tiered", "AWS::EC2::Volume", {"Size": 100, "VolumeType": "io2", "Iops": 40000}, {},
     100 * 0.125 + 32000 * 0.065 + 8000 * 0.0455, Status.PRICED),  # 12.5 + 2080 + 364
    ("ebs-st1", "AWS::EC2::Volume", {"Size": 500, "VolumeType": "st1"}, {},
     500 * 0.045, Status.PRICED),  # 22.50
    ("alb-internet-2-subnets", "AWS::ElasticLoadBalancingV2::LoadBalancer",
     {"Type": "application", "Subnets": ["subnet-a", "subnet-b"]}, {"alb_lcu": 2},
     0.0225 * H + 2 * H * 0.008 + 2 * 0.005 * H, Status.PRICED),  # 16.425 + 11.68 + 7.30
    ("alb-internal-no-usage", "AWS::ElasticLoadBalancingV2::LoadBalancer",
     {"Scheme": "internal"}, {}, 0.0225 * H, Status.USAGE),  # 16.425, LCU depends on usage
    ("nlb-internal", "AWS::ElasticLoadBalancingV2::LoadBalancer",
     {"Type": "network", "Scheme": "internal"}, {"nlb_lcu": 1},
     0.0225 * H + 1 * H * 0.006, Status.PRICED),  # 16.425 + 4.38 = 20.805
    ("interface-endpoint-3-azs", "AWS::EC2::VPCEndpoint",
     {"VpcEndpointType": "Interface", "SubnetIds": ["a", "b", "c"]},
     {"vpc_endpoint_processed_gb": 10}, 3 * 0.01 * H + 10 * 0.01, Status.PRICED),  # 21.9 + 0.1
    ("kms-key", "AWS::KMS::Key", {}, {"kms_requests": 100000},
     1.0 + 100000 / 10000 * 0.03, Status.PRICED),  # 1.00 + 0.30
    ("kms-key-no-usage", "AWS::KMS::Key", {}, {}, 1.0, Status.USAGE),
    ("log-group", "AWS::Logs::LogGroup", {"RetentionInDays": 30},
     {"cloudwatch_logs_ingested_gb": 10, "cloudwatch_logs_stored_gb": 30},
     10 * 0.50 + 30 * 0.03, Status.PRICED),  # 5.00 + 0.90
    ("log-group-infrequent-access", "AWS::Logs::LogGroup", {"LogGroupClass": "INFREQUENT_ACCESS"},
     {"cloudwatch_logs_ingested_gb": 10, "cloudwatch_logs_stored_gb": 30},
     10 * 0.25 + 30 * 0.03, Status.PRICED),  # 2.50 + 0.90
    ("s3-bucket", "AWS::S3::Bucket", {},
     {"s3_storage_gb": 100, "s3_put_requests": 10000, "s3_get_requests": 1_000_000},
     100 * 0.023 + 10 * 0.005 + 1000 * 0.0004, Status.PRICED),  # 2.30 + 0.05 + 0.40
    ("s3-bucket-no-usage", "AWS::S3::Bucket", {}, {}, 0.0, Status.USAGE),
    ("rds-postgres-multi-az-gp3", "AWS::RDS::DBInstance",
     {"Engine": "postgres", "DBInstanceClass": "db.t3.medium", "MultiAZ": True,
      "AllocatedStorage": "100", "StorageType": "gp3"}, {},
     2 * 0.072 * H + 2 * 100 * 0.115, Status.PRICED),  # 105.12 + 23.00
    ("rds-mysql-io1", "AWS::RDS::DBInstance",
     {"Engine": "mysql", "DBInstanceClass": "db.m5.large", "AllocatedStorage": 50,
      "StorageType": "io1", "Iops": 1000}, {},
     0.171 * H + 50 * 0.125 + 1000 * 0.10, Status.PRICED),  # 124.83 + 6.25 + 100
    ("aurora-instance", "AWS::RDS::DBInstance",
     {"Engine": "aurora-postgresql", "DBInstanceClass": "db.r6g.large"}, {},
     0.26 * H, Status.PRICED),  # 189.80; storage is on the cluster
    ("aurora-cluster", "AWS::RDS::DBCluster", {"Engine": "aurora-postgresql"},
     {"aurora_storage_gb": 100, "aurora_io_millions": 10}, 100 * 0.10 + 10 * 0.20, Status.PRICED),
    ("secret", "AWS::SecretsManager::Secret", {}, {"secrets_api_calls": 20000},
     0.40 + 2 * 0.05, Status.PRICED),  # 0.50
    ("cognito-plus", "AWS::Cognito::UserPool", {"UserPoolTier": "PLUS"}, {"cognito_mau": 10},
     10 * 0.02, Status.PRICED),  # 0.20
    ("cognito-essentials-over-free", "AWS::Cognito::UserPool", {}, {"cognito_mau": 12000},
     2000 * 0.015, Status.PRICED),  # 30.00: the first 10,000 MAU are free
    ("cognito-essentials-under-free", "AWS::Cognito::UserPool", {}, {"cognito_mau": 50},
     0.0, Status.PRICED),
    ("ssm-advanced", "AWS::SSM::Parameter", {"Tier": "Advanced", "Type": "String"}, {},
     0.05, Status.PRICED),
]  # fmt: skip


@pytest.mark.parametrize(("rtype", "props", "usage", "expected", "status"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])  # fmt: skip
def test_each_priced_type(
    rtype: str, props: dict[str, Any], usage: dict[str, float], expected: float, status: Status
) -> None:
    got = one(rtype, props, usage=usage)
    assert got.status is status, got
    assert got.monthly == pytest.approx(expected, abs=1e-6)
    assert got.hourly == pytest.approx(expected / H, abs=1e-9)
    assert all(c.source.startswith("https://aws.amazon.com/") for c in got.components)


def test_usage_dependent_part_keeps_unit_price_and_key() -> None:
    got = one("AWS::EC2::NatGateway", {})
    (missing,) = [c for c in got.components if c.quantity is None]
    assert (missing.unit_price, missing.usage_key) == (0.045, "nat_gateway_processed_gb")
    assert missing.monthly is None


@pytest.mark.parametrize(
    ("rtype", "status"),
    [
        ("AWS::IAM::Role", Status.FREE),
        ("AWS::EC2::SecurityGroup", Status.FREE),
        ("AWS::EC2::Subnet", Status.FREE),
        ("AWS::EC2::RouteTable", Status.FREE),
        ("AWS::SQS::Queue", Status.NOT_PRICED),
        ("Custom::Thing", Status.NOT_PRICED),
    ],
)
def test_free_is_distinct_from_not_priced(rtype: str, status: Status) -> None:
    got = one(rtype, {})
    assert got.status is status
    assert got.monthly == 0 and got.components == ()
    assert got.assumptions  # says why


def test_unknown_instance_type_is_not_priced_and_wanted_for_live_prices() -> None:
    got = one("AWS::EC2::Instance", {"InstanceType": "x9.huge"})
    assert got.status is Status.NOT_PRICED
    assert "x9.huge" in got.assumptions[-1]
    assert got.wanted == ("ec2:x9.huge",)


def test_node_group_with_launch_template_root_volume() -> None:
    est = stack({
        "NodeLaunchTemplate": lt([gp3(100, Iops=4000, Throughput=150)]),
        "NodeGroup": {"Type": "AWS::EKS::Nodegroup", "Properties": {
            "InstanceTypes": ["t3a.xlarge"],
            "ScalingConfig": {"MinSize": 2, "DesiredSize": 3, "MaxSize": 10},
            "LaunchTemplate": {"Id": {"Ref": "NodeLaunchTemplate"}},
        }},
    })  # fmt: skip
    items = {i.logical_id: i for i in est.items}
    # 3 x 0.1504 x 730 = 329.376; volumes 3 x (100 x 0.08 + 1000 x 0.005 + 25 x 0.04) = 3 x 14
    assert items["NodeGroup"].monthly == pytest.approx(329.376 + 42.0)
    assert items["NodeLaunchTemplate"].status is Status.FREE
    assert "NodeGroup" in items["NodeLaunchTemplate"].assumptions[0]


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        # DiskSize 50, 2 x m5.large: 2 x 0.096 x 730 + 2 x 50 x 0.08 = 140.16 + 8.00
        ({"InstanceTypes": ["m5.large"], "DiskSize": 50, "ScalingConfig": {"DesiredSize": 2}},
         140.16 + 8.0),
        # EKS defaults: t3.medium, 2 nodes, 20 GB: 2 x 0.0416 x 730 + 2 x 20 x 0.08 = 60.736 + 3.2
        ({}, 60.736 + 3.2),
    ],
)  # fmt: skip
def test_node_group_without_launch_template(props: dict[str, Any], expected: float) -> None:
    assert one("AWS::EKS::Nodegroup", props).monthly == pytest.approx(expected)


def test_instance_type_and_volume_from_launch_template_and_asg() -> None:
    est = stack({
        "Lt": lt([], InstanceType="t3.small"),
        "Group": {"Type": "AWS::AutoScaling::AutoScalingGroup", "Properties": {
            "MinSize": "1", "MaxSize": "4", "DesiredCapacity": "2",
            "LaunchTemplate": {"LaunchTemplateId": {"Ref": "Lt"}, "Version": "1"}}},
    })  # fmt: skip
    group = next(i for i in est.items if i.logical_id == "Group")
    # 2 x 0.0208 x 730 = 30.368; no mapping: the AMI's 8 GB gp3 root, 2 x 8 x 0.08 = 1.28
    assert group.monthly == pytest.approx(30.368 + 1.28)


NODE_PARAMS = {
    "InstanceType": {"Type": "String", "Default": "t3a.xlarge"},
    "DesiredSize": {"Type": "Number", "Default": 3},
    "RootGiB": {"Type": "Number", "Default": 100},
}
NODE_RESOURCES = {
    "Lt": lt([{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": {"Ref": "RootGiB"},
                                                   "VolumeType": "gp3"}}]),
    "Ng": {"Type": "AWS::EKS::Nodegroup", "Properties": {
        "InstanceTypes": [{"Ref": "InstanceType"}],
        "ScalingConfig": {"DesiredSize": {"Ref": "DesiredSize"}},
        "LaunchTemplate": {"Id": {"Ref": "Lt"}}}},
}  # fmt: skip


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, 3 * 0.1504 * H + 3 * 100 * 0.08),  # defaults: 329.376 + 24.00
        ({"InstanceType": "m6i.large", "DesiredSize": "5"}, 5 * 0.096 * H + 5 * 100 * 0.08),
        ({"RootGiB": "50", "DesiredSize": "1"}, 1 * 0.1504 * H + 50 * 0.08),  # 109.792 + 4.00
    ],
)
def test_parameters_set_instance_type_count_and_size(
    params: dict[str, str], expected: float
) -> None:
    est = stack(NODE_RESOURCES, params=params, declared=NODE_PARAMS)
    assert est.monthly == pytest.approx(expected)


CONDITIONAL = {
    "declared": {
        "Env": {"Type": "String", "AllowedValues": ["dev", "prd"]},
        "ForceNat": {"Type": "String", "Default": "false"},
    },
    "conditions": {
        "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prd"]},
        "HasNat": {"Fn::Or": [{"Condition": "IsProd"},
                              {"Fn::Equals": [{"Ref": "ForceNat"}, "true"]}]},
        "NotDev": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Env"}, "dev"]}]},
        "ProdNat": {"Fn::And": [{"Condition": "NotDev"}, {"Condition": "HasNat"}]},
    },
}  # fmt: skip
CONDITIONAL_RESOURCES = {
    "Nat": {"Type": "AWS::EC2::NatGateway", "Condition": "HasNat", "Properties": {}},
    "Eip": {"Type": "AWS::EC2::EIP", "Condition": "ProdNat", "Properties": {}},
    "Box": {"Type": "AWS::EC2::Instance", "Properties": {
        "InstanceType": {"Fn::If": ["IsProd", "m5.large", "t3.micro"]},
        "Monitoring": {"Fn::If": ["IsProd", True, {"Ref": "AWS::NoValue"}]}}},
}  # fmt: skip


@pytest.mark.parametrize(
    ("params", "expected", "skipped"),
    [
        # dev: no NAT, no EIP; t3.micro 0.0104 x 730 = 7.592 + 8 GB root 0.64
        ({"Env": "dev"}, 7.592 + 0.64, {"Nat", "Eip"}),
        # dev with ForceNat: NAT 32.85 (data depends on usage), still no EIP (ProdNat false)
        ({"Env": "dev", "ForceNat": "true"}, 32.85 + 7.592 + 0.64, {"Eip"}),
        # prd: NAT 32.85 + EIP 3.65 + m5.large 70.08 + root 0.64 + detailed monitoring 2.10
        ({"Env": "prd"}, 32.85 + 3.65 + 70.08 + 0.64 + 2.10, set()),
    ],
)
def test_conditions_and_fn_if(params: dict[str, str], expected: float, skipped: set[str]) -> None:
    est = stack(CONDITIONAL_RESOURCES, params=params, **CONDITIONAL)  # type: ignore[arg-type]
    assert est.monthly == pytest.approx(expected)
    assert {s.logical_id for s in est.skipped} == skipped
    assert {i.logical_id for i in est.items} == {"Nat", "Eip", "Box"} - skipped


def test_count_pattern_one_or_three_nat_gateways_share_processed_data() -> None:
    declared = {"NatGatewayCount": {"Type": "Number", "Default": 3, "AllowedValues": [1, 3]}}
    conditions = {"Three": {"Fn::Equals": [{"Ref": "NatGatewayCount"}, 3]}}
    resources = {
        f"Nat{i}": {"Type": "AWS::EC2::NatGateway", "Properties": {},
                    **({"Condition": "Three"} if i > 1 else {})}
        for i in (1, 2, 3)
    }  # fmt: skip
    usage = {"nat_gateway_processed_gb": 90.0}
    three = stack(resources, declared=declared, conditions=conditions, usage=usage)
    one_nat = stack(resources, params={"NatGatewayCount": "1"}, declared=declared,
                    conditions=conditions, usage=usage)  # fmt: skip
    # 3 x 32.85 + 90 GB x 0.045 (30 GB each); 1 x 32.85 + 90 x 0.045 (all on one)
    assert three.monthly == pytest.approx(3 * 32.85 + 4.05)
    assert one_nat.monthly == pytest.approx(32.85 + 4.05)
    assert [i.monthly for i in three.items] == pytest.approx([32.85 + 1.35] * 3)


def test_flow_log_takes_ingestion_and_its_log_group_only_storage() -> None:
    est = stack({
        "Group": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 90}},
        "Flow": {"Type": "AWS::EC2::FlowLog", "Properties": {
            "LogDestinationType": "cloud-watch-logs", "LogGroupName": {"Ref": "Group"}}},
        "Other": {"Type": "AWS::Logs::LogGroup", "Properties": {}},
    }, usage={"cloudwatch_logs_ingested_gb": 20, "cloudwatch_logs_stored_gb": 40})  # fmt: skip
    items = {i.logical_id: i for i in est.items}
    # ingestion 20 GB shared by Flow and Other (10 each, $0.50/GB); storage 40 by the 2 groups
    assert items["Flow"].monthly == pytest.approx(10 * 0.50)
    assert items["Group"].monthly == pytest.approx(20 * 0.03)
    assert items["Other"].monthly == pytest.approx(10 * 0.50 + 20 * 0.03)
    assert est.monthly == pytest.approx(20 * 0.50 + 40 * 0.03)  # the totals, not more


def test_per_resource_usage_overrides_its_share() -> None:
    resources = {f"N{i}": {"Type": "AWS::EC2::NatGateway", "Properties": {}} for i in (1, 2, 3)}
    est = stack(resources, usage={"nat_gateway_processed_gb": 100},
                per_resource={"s.N1": {"nat_gateway_processed_gb": 1000}})  # fmt: skip
    items = {i.logical_id: i for i in est.items}
    assert items["N1"].monthly == pytest.approx(32.85 + 1000 * 0.045)
    assert items["N2"].monthly == pytest.approx(32.85 + 50 * 0.045)  # 100 GB over N2, N3


def test_load_balancer_subnets_through_import_of_joined_export() -> None:
    """Subnets: !Split [",", !ImportValue X] where X is !Join of three Refs: 3 public IPs."""
    vpc = Template(Path("vpc.yaml"), {
        "Resources": {f"S{i}": {"Type": "AWS::EC2::Subnet", "Properties": {}} for i in (1, 2, 3)},
        "Outputs": {"Ids": {"Value": {"Fn::Join": [",", [{"Ref": "S1"}, {"Ref": "S2"},
                                                         {"Ref": "S3"}]]},
                            "Export": {"Name": {"Fn::Sub": "${AWS::StackName}-Ids"}}}},
    })  # fmt: skip
    alb = Template(
        Path("alb.yaml"),
        {
            "Resources": {
                "Lb": {
                    "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
                    "Properties": {
                        "Subnets": {"Fn::Split": [",", {"Fn::ImportValue": "p-dev-vpc-Ids"}]}
                    },
                }
            }
        },
    )
    inputs = [StackInput("vpc", vpc, "vpc.yaml", {}, "p-dev-vpc"),
              StackInput("alb", alb, "alb.yaml", {}, "p-dev-alb")]  # fmt: skip
    _, est = price_stacks(inputs, UsageValues({"alb_lcu": 1}), TABLE, DAY)
    # 16.425 hours + 5.84 LCU + 3 x 3.65 public IPv4
    assert est.monthly == pytest.approx(16.425 + 5.84 + 10.95)


def test_eks_support_depends_on_the_day() -> None:
    props = {"Version": "1.34"}
    assert one("AWS::EKS::Cluster", props, on=date(2026, 12, 1)).monthly == pytest.approx(73.0)
    assert one("AWS::EKS::Cluster", props, on=date(2026, 12, 2)).monthly == pytest.approx(438.0)


def test_usage_file_items_outside_templates() -> None:
    extra = usage_items(UsageValues({"data_transfer_out_gb": 100, "ebs_snapshot_gb": 50}), TABLE)
    assert extra is not None
    # 100 GB x $0.09 + 50 GB-month x $0.05
    assert [i.monthly for i in extra.items] == pytest.approx([9.0, 2.5])


def test_condition_errors_are_reported_on_the_stack() -> None:
    body = {"Conditions": {"A": {"Condition": "B"}, "B": {"Condition": "A"}}, "Resources": {}}
    (est,) = price_stacks([StackInput("s", Template(Path("t"), body), "t")], UsageValues(),
                          TABLE, DAY)  # fmt: skip
    assert est.error is not None and "refers to itself" in est.error
    body = {"Resources": {"X": {"Type": "AWS::EC2::EIP", "Condition": "Missing"}}}
    (est,) = price_stacks([StackInput("s", Template(Path("t"), body), "t")], UsageValues(),
                          TABLE, DAY)  # fmt: skip
    assert est.items == () and est.error == "X: condition 'Missing' is not defined"


def test_unreadable_template_is_an_error_not_zero() -> None:
    bad = Template(Path("bad.yaml"), None)
    (est,) = price_stacks([StackInput("bad", bad, "bad.yaml")], UsageValues(), TABLE, DAY)
    assert est.error and est.items == ()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"environments": {"dev": {"nat_gb": 1}}}, "unknown usage key 'nat_gb'"),
        ({"environments": {"dev": {"alb_lcu": -1}}}, "non-negative number"),
        ({"environments": {"dev": {"alb_lcu": "many"}}}, "non-negative number"),
        ({"extra": 1}, "unknown top-level keys"),
        ([1, 2], "mapping at the top level"),
        ({"environments": {"dev": {"resources": {"vpc.Nat": {"bogus": 1}}}}}, "'bogus'"),
    ],
)
def test_usage_file_errors(data: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_usage(data)


def test_usage_env_over_defaults_and_allocation() -> None:
    usage = parse_usage({"defaults": {"alb_lcu": 1, "cognito_mau": 5},
                         "environments": {"dev": {"alb_lcu": 3}}})  # fmt: skip
    dev = usage.for_env("dev")
    assert dict(dev.totals) == {"alb_lcu": 3.0, "cognito_mau": 5.0}
    assert dict(usage.for_env(None).totals) == {"alb_lcu": 1.0, "cognito_mau": 5.0}
    shares = allocate({"alb_lcu": [("a", "X"), ("b", "Y")]}, dev)
    assert shares[("a", "X")]["alb_lcu"].value == 1.5
    assert "shared by 2" in shares[("b", "Y")]["alb_lcu"].why


def test_odd_property_shapes_are_not_priced_not_a_crash() -> None:
    odd = [
        ("AWS::EKS::Nodegroup", {"InstanceTypes": "t3.large", "ScalingConfig": "x"}),
        ("AWS::EC2::Instance", {"InstanceType": ["m5.large"], "BlockDeviceMappings": "x"}),
        ("AWS::EC2::Volume", {"Size": {"a": 1}}),
        ("AWS::RDS::DBInstance", {"Engine": 5, "DBInstanceClass": None}),
        ("AWS::Cognito::UserPool", {"UserPoolTier": "GOLD"}),
    ]
    for rtype, props in odd:
        got = one(rtype, props)
        assert got.status is Status.NOT_PRICED, (rtype, got)
