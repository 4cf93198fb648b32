"""Which pricer prices which resource type, which types are free, and who uses what."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bot.cost import compute, services
from bot.cost.base import Context, Resource
from bot.cost.model import LineItem

Pricer = Callable[[Resource, Context], LineItem]

PRICERS: dict[str, Pricer] = {
    "AWS::EC2::Instance": compute.price_instance,
    "AWS::EC2::LaunchTemplate": compute.price_launch_template,
    "AWS::EKS::Nodegroup": compute.price_nodegroup,
    "AWS::AutoScaling::AutoScalingGroup": compute.price_autoscaling_group,
    "AWS::EC2::Volume": compute.price_volume,
    "AWS::EKS::Cluster": compute.price_eks_cluster,
    "AWS::EC2::NatGateway": services.price_nat_gateway,
    "AWS::EC2::EIP": services.price_eip,
    "AWS::ElasticLoadBalancingV2::LoadBalancer": services.price_load_balancer,
    "AWS::EC2::VPCEndpoint": services.price_vpc_endpoint,
    "AWS::EC2::FlowLog": services.price_flow_log,
    "AWS::Logs::LogGroup": services.price_log_group,
    "AWS::KMS::Key": services.price_kms_key,
    "AWS::S3::Bucket": services.price_bucket,
    "AWS::RDS::DBInstance": services.price_db_instance,
    "AWS::RDS::DBCluster": services.price_db_cluster,
    "AWS::SecretsManager::Secret": services.price_secret,
    "AWS::Cognito::UserPool": services.price_user_pool,
    "AWS::SSM::Parameter": services.price_ssm_parameter,
}

# Types AWS does not charge for by themselves (their traffic or the things they
# attach to may cost, and is priced there). Anything neither here nor in
# PRICERS is reported as "not priced", never as zero.
FREE_TYPES: frozenset[str] = frozenset({
    "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::InstanceProfile",
    "AWS::IAM::OIDCProvider", "AWS::IAM::User", "AWS::IAM::Group", "AWS::IAM::RolePolicy",
    "AWS::IAM::ServiceLinkedRole",
    "AWS::EC2::VPC", "AWS::EC2::VPCCidrBlock", "AWS::EC2::Subnet", "AWS::EC2::RouteTable",
    "AWS::EC2::Route", "AWS::EC2::SubnetRouteTableAssociation", "AWS::EC2::InternetGateway",
    "AWS::EC2::VPCGatewayAttachment", "AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress",
    "AWS::EC2::SecurityGroupEgress", "AWS::EC2::NetworkAcl", "AWS::EC2::NetworkAclEntry",
    "AWS::EC2::SubnetNetworkAclAssociation", "AWS::EC2::DHCPOptions",
    "AWS::EC2::VPCDHCPOptionsAssociation", "AWS::EC2::EIPAssociation", "AWS::EC2::KeyPair",
    "AWS::EC2::EgressOnlyInternetGateway", "AWS::EC2::PlacementGroup",
    "AWS::ElasticLoadBalancingV2::TargetGroup", "AWS::ElasticLoadBalancingV2::Listener",
    "AWS::ElasticLoadBalancingV2::ListenerRule",
    "AWS::ElasticLoadBalancingV2::ListenerCertificate",
    "AWS::EKS::Addon", "AWS::EKS::AccessEntry", "AWS::EKS::PodIdentityAssociation",
    "AWS::KMS::Alias", "AWS::S3::BucketPolicy", "AWS::Logs::ResourcePolicy",
    "AWS::Logs::SubscriptionFilter", "AWS::Logs::LogStream",
    "AWS::Cognito::UserPoolDomain", "AWS::Cognito::UserPoolClient", "AWS::Cognito::UserPoolGroup",
    "AWS::Cognito::UserPoolUser", "AWS::Cognito::UserPoolUserToGroupAttachment",
    "AWS::Cognito::UserPoolResourceServer",
    "AWS::SecretsManager::ResourcePolicy", "AWS::SecretsManager::SecretTargetAttachment",
    "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy", "AWS::CloudFormation::WaitCondition",
    "AWS::CloudFormation::WaitConditionHandle", "AWS::CertificateManager::Certificate",
    "AWS::RDS::DBSubnetGroup", "AWS::RDS::DBParameterGroup", "AWS::RDS::DBClusterParameterGroup",
    "AWS::Lambda::Permission",
})  # fmt: skip

# Usage keys shared among the resources that consume them (see bot.cost.usage).
_STATIC_KEYS: dict[str, tuple[str, ...]] = {
    "AWS::EC2::NatGateway": ("nat_gateway_processed_gb",),
    "AWS::EC2::VPCEndpoint": ("vpc_endpoint_processed_gb",),
    "AWS::KMS::Key": ("kms_requests",),
    "AWS::S3::Bucket": ("s3_storage_gb", "s3_put_requests", "s3_get_requests"),
    "AWS::SecretsManager::Secret": ("secrets_api_calls",),
    "AWS::Cognito::UserPool": ("cognito_mau",),
    "AWS::RDS::DBCluster": ("aurora_storage_gb", "aurora_io_millions"),
}


def usage_keys(r: Resource, siblings: Mapping[str, Resource]) -> tuple[str, ...]:
    """The pooled usage figures this resource takes a share of."""
    if r.type in _STATIC_KEYS:
        return _STATIC_KEYS[r.type]
    if r.type == "AWS::ElasticLoadBalancingV2::LoadBalancer":
        return ("nlb_lcu",) if r.text("Type") == "network" else ("alb_lcu",)
    if r.type == "AWS::EC2::FlowLog":
        dest = r.text("LogDestinationType") or "cloud-watch-logs"
        return {"cloud-watch-logs": ("cloudwatch_logs_ingested_gb",),
                "s3": ("flow_logs_s3_gb",)}.get(dest, ())  # fmt: skip
    if r.type == "AWS::Logs::LogGroup":
        fed = any(
            s.type == "AWS::EC2::FlowLog" and services.feeds_log_group(s) == r.logical_id
            for s in siblings.values()
        )
        stored = ("cloudwatch_logs_stored_gb",)
        return stored if fed else ("cloudwatch_logs_ingested_gb", *stored)
    if r.type == "AWS::RDS::DBInstance" and r.text("DBInstanceClass") == "db.serverless":
        return ("aurora_acu_hours",)
    return ()
