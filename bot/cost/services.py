"""Pricers for networking, load balancing, logs, keys, storage, databases and identity."""

from __future__ import annotations

from bot.cost.base import Bill, Context, Resource
from bot.cost.model import LineItem
from bot.cost.values import UNKNOWN

COGNITO_FREE_MAU = 10000.0  # Lite and Essentials tiers; Plus has no free allowance


def price_nat_gateway(r: Resource, ctx: Context) -> LineItem:
    bill = Bill(r, ctx)
    bill.hourly("NAT gateway hours", bill.price("nat_gateway.hour"))
    bill.usage("Data processed", bill.price("nat_gateway.gb"), "nat_gateway_processed_gb")
    if r.text("ConnectivityType") != "private":
        bill.note("its public IPv4 address is priced on the Elastic IP it uses")
    return bill.done()


def price_eip(r: Resource, ctx: Context) -> LineItem:
    bill = Bill(r, ctx)
    bill.hourly("Public IPv4 address", bill.price("public_ipv4.hour"))
    bill.note("public IPv4 addresses cost $0.005/h attached or idle since 2024-02-01")
    return bill.done()


def _az_count(r: Resource, *keys: str) -> int | None:
    for key in keys:
        value = r.prop(key)
        if isinstance(value, list):
            return len(value)
    return None


def price_load_balancer(r: Resource, ctx: Context) -> LineItem:
    bill = Bill(r, ctx)
    kind = r.text("Type") or "application"
    if kind not in ("application", "network"):
        return bill.not_priced(f"{kind} load balancers are not in the price table")
    prefix, key = ("alb", "alb_lcu") if kind == "application" else ("nlb", "nlb_lcu")
    label = "Application" if kind == "application" else "Network"
    bill.hourly(f"{label} load balancer hours", bill.price(f"{prefix}.hour"))
    bill.usage("Capacity units (LCU-hours)", bill.price(f"{prefix}.lcu_hour"), key, ctx.hours)
    if (r.text("Scheme") or "internet-facing") == "internet-facing":
        azs = _az_count(r, "Subnets", "SubnetMappings")
        if azs is None:
            bill.note("internet-facing: public IPv4 addresses not priced (subnets unknown)")
        else:
            bill.note(f"internet-facing in {azs} subnets: one public IPv4 address each "
                      "(more when the load balancer scales out)")  # fmt: skip
            bill.hourly(f"Public IPv4 addresses (x {azs})", bill.price("public_ipv4.hour"), azs)
    return bill.done()


def price_vpc_endpoint(r: Resource, ctx: Context) -> LineItem:
    bill = Bill(r, ctx)
    kind = r.text("VpcEndpointType") or "Gateway"
    if kind == "Gateway":
        return bill.free("gateway endpoints (S3, DynamoDB) have no charge")
    if kind != "Interface":
        return bill.not_priced(f"{kind} endpoints are not in the price table")
    azs = _az_count(r, "SubnetIds")
    if azs is None:
        return bill.not_priced("interface endpoint with unknown subnets: AZ count unknown")
    bill.hourly(f"Endpoint hours (x {azs} AZs)", bill.price("vpc_endpoint.az_hour"), azs)
    bill.usage("Data processed", bill.price("vpc_endpoint.gb"), "vpc_endpoint_processed_gb")
    return bill.done()


def feeds_log_group(r: Resource) -> str | None:
    """The log group in the same stack that a CloudWatch flow log writes to."""
    if (r.text("LogDestinationType") or "cloud-watch-logs") != "cloud-watch-logs":
        return None
    return r.ref_target("LogGroupName") or r.ref_target("LogDestination")


def price_flow_log(r: Resource, ctx: Context) -> LineItem:
    bill = Bill(r, ctx)
    dest = r.text("LogDestinationType") or "cloud-watch-logs"
    if dest == "cloud-watch-logs":
        bill.usage("Logs delivered to CloudWatch", bill.price("flow_logs.cw_gb"),
                   "cloudwatch_logs_ingested_gb")  # fmt: skip
        bill.note("storage is priced on the destination log group")
    elif dest == "s3":
        bill.usage("Logs delivered to S3", bill.price("flow_logs.s3_gb"), "flow_logs_s3_gb")
    else:
        return bill.not_priced(f"flow logs to {dest} are not in the price table")
    return bill.done()


def price_log_group(r: Resource, ctx: Context) -> LineItem:
    bill = Bill(r, ctx)
    fed_by = [
        s.logical_id for s in ctx.siblings.values()
        if s.type == "AWS::EC2::FlowLog" and feeds_log_group(s) == r.logical_id
    ]  # fmt: skip
    if fed_by:
        bill.note(f"ingestion priced on flow log {', '.join(fed_by)} (vended logs)")
    else:
        infrequent = r.text("LogGroupClass") == "INFREQUENT_ACCESS"
        key = "logs.ingest_ia_gb" if infrequent else "logs.ingest_gb"
        bill.usage("Data ingested", bill.price(key), "cloudwatch_logs_ingested_gb")
    bill.usage("Storage", bill.price("logs.storage_gb"), "cloudwatch_logs_stored_gb")
    days = r.text("RetentionInDays")
    bill.note(f"retention {days} days" if days else "no retention set: logs are kept forever")
    return bill.done()


def price_kms_key(r: Resource, ctx: Context) -> LineItem:
    bill = Bill(r, ctx)
    bill.monthly("Customer managed key", bill.price("kms.key_month"), 1)
    bill.usage("Requests", bill.price("kms.requests_10k"), "kms_requests", 1 / 10000)
    return bill.done()


def price_bucket(r: Resource, ctx: Context) -> LineItem:
    bill = Bill(r, ctx)
    bill.usage("Storage (S3 Standard)", bill.price("s3.standard_gb"), "s3_storage_gb")
    bill.usage("PUT/COPY/POST/LIST requests", bill.price("s3.put_1k"), "s3_put_requests", 1e-3)
    bill.usage("GET/SELECT requests", bill.price("s3.get_1k"), "s3_get_requests", 1e-3)
    if r.prop("VersioningConfiguration", "Status") == "Enabled":
        bill.note("versioning on: s3_storage_gb should include noncurrent versions")
    return bill.done()


def _engine(r: Resource) -> str:
    engine = (r.text("Engine") or "").lower()
    if engine in ("postgres", "mysql", "aurora-postgresql", "aurora-mysql"):
        return engine
    if engine == "aurora":
        return "aurora-mysql"
    if engine == "mariadb":
        return "mysql"
    return engine


def price_db_instance(r: Resource, ctx: Context) -> LineItem:
    bill = Bill(r, ctx)
    engine, klass = _engine(r), r.text("DBInstanceClass")
    if klass == "db.serverless":
        bill.usage("Aurora Serverless v2 capacity", bill.price("aurora.serverless_v2_acu_hour"),
                   "aurora_acu_hours")  # fmt: skip
        return bill.done()
    if not engine or klass is None:
        return bill.not_priced("engine or instance class not known before deploy")
    price = ctx.table.rds_hourly(engine, klass)
    if price is None:
        return bill.not_priced(f"no price for {engine} {klass} in the price table")
    multi_az = r.prop("MultiAZ") in (True, "true", "True")
    copies = 2.0 if multi_az and not engine.startswith("aurora") else 1.0
    az = " Multi-AZ" if copies == 2 else ""
    bill.hourly(f"Database instance ({engine} {klass}{az})", price, copies)
    if engine.startswith("aurora"):
        bill.note("storage and I/O are priced on the Aurora DB cluster")
    else:
        _db_storage(bill, r, copies, az)
    return bill.done()


def _db_storage(bill: Bill, r: Resource, copies: float, az: str) -> None:
    size = r.number("AllocatedStorage")
    stype = r.text("StorageType") or ("io1" if r.number("Iops") else "gp2")
    if r.text("StorageType") is None:
        bill.note(f"no StorageType: assumed {stype}")
    if size is None:
        bill.note("AllocatedStorage unknown; storage not priced")
        return
    if stype not in ("gp2", "gp3", "io1"):
        bill.note(f"storage type {stype} not in the price table; storage not priced")
        return
    bill.monthly(f"Storage ({stype}, {size:g} GB{az})", bill.price(f"rds.{stype}_gb"),
                 size * copies)  # fmt: skip
    iops = r.number("Iops")
    if stype == "io1" and iops:
        bill.monthly(f"Provisioned IOPS ({iops:g}{az})", bill.price("rds.io1_iops"), iops * copies)


def price_db_cluster(r: Resource, ctx: Context) -> LineItem:
    bill = Bill(r, ctx)
    if not _engine(r).startswith("aurora"):
        return bill.not_priced("Multi-AZ DB clusters (non-Aurora) are not in the price table")
    bill.usage("Storage", bill.price("aurora.storage_gb"), "aurora_storage_gb")
    bill.usage("I/O requests", bill.price("aurora.io_million"), "aurora_io_millions")
    bill.note("instances are priced on their AWS::RDS::DBInstance resources")
    return bill.done()


def price_secret(r: Resource, ctx: Context) -> LineItem:
    bill = Bill(r, ctx)
    bill.monthly("Secret", bill.price("secrets.secret_month"), 1)
    bill.usage("API calls", bill.price("secrets.api_10k"), "secrets_api_calls", 1 / 10000)
    return bill.done()


def price_user_pool(r: Resource, ctx: Context) -> LineItem:
    bill = Bill(r, ctx)
    tier = (r.text("UserPoolTier") or "ESSENTIALS").upper()
    if tier not in ("LITE", "ESSENTIALS", "PLUS"):
        return bill.not_priced(f"user pool tier {tier} is not in the price table")
    price = bill.price(f"cognito.{tier.lower()}_mau")
    share = ctx.usage.get("cognito_mau")
    if tier == "PLUS" or share is None:
        bill.usage(f"Monthly active users ({tier.title()} tier)", price, "cognito_mau")
    else:
        billable = max(0.0, share.value - COGNITO_FREE_MAU)
        bill.note(share.why)
        bill.note(f"the first {COGNITO_FREE_MAU:,.0f} MAU of the {tier.title()} tier are free")
        bill.monthly(f"Monthly active users above 10,000 ({tier.title()} tier)", price, billable)
    return bill.done()


def price_ssm_parameter(r: Resource, ctx: Context) -> LineItem:
    bill = Bill(r, ctx)
    tier = r.text("Tier") or "Standard"
    if tier == "Standard":
        return bill.free("standard-tier parameters have no charge")
    if r.prop("Tier") is UNKNOWN or tier == "Intelligent-Tiering":
        bill.note(f"tier {tier}: priced as advanced")
    bill.monthly("Advanced parameter", bill.price("ssm.advanced_parameter_month"), 1)
    return bill.done()
