# Example: the whole system in one VPC. Elasticsearch, Kibana, Logstash and (optionally)
# Kafka nodes, sensors that receive mirrored traffic as VXLAN, and an Ansible inventory for
# ansible/site.yml as an output. docs/deploy-terraform.md walks through it.

module "network" {
  source             = "../../modules/network"
  name               = var.name
  cidr_block         = var.vpc_cidr
  availability_zones = var.availability_zones
}

module "security_groups" {
  source              = "../../modules/security-groups"
  name                = var.name
  vpc_id              = module.network.vpc_id
  vpc_cidr            = module.network.cidr_block
  admin_cidrs         = var.admin_cidrs
  monitoring_cidrs    = var.monitoring_cidrs
  mirror_source_cidrs = length(var.mirror_source_cidrs) > 0 ? var.mirror_source_cidrs : [module.network.cidr_block]
}

locals {
  groups = {
    elasticsearch = { count = var.elasticsearch.count, instance_type = var.elasticsearch.instance_type, data_gib = var.elasticsearch.data_gib, sg = "elasticsearch" }
    kibana        = { count = var.kibana.count, instance_type = var.kibana.instance_type, data_gib = 0, sg = "kibana" }
    logstash      = { count = var.logstash.count, instance_type = var.logstash.instance_type, data_gib = 0, sg = "logstash" }
    kafka         = { count = var.kafka.count, instance_type = var.kafka.instance_type, data_gib = var.kafka.data_gib, sg = "kafka" }
  }
}

module "stack" {
  source             = "../../modules/instances"
  for_each           = { for group, spec in local.groups : group => spec if spec.count > 0 }
  name               = "${var.name}-${each.key}"
  role               = each.key
  instance_count     = each.value.count
  instance_type      = each.value.instance_type
  ami_id             = var.ami_id
  key_name           = var.key_name
  subnet_ids         = module.network.private_subnet_ids
  security_group_ids = [module.security_groups.ids[each.value.sg]]
  data_volume_size   = each.value.data_gib
}

# Mirrored traffic arrives as VXLAN (UDP 4789) on each sensor's primary interface. With
# mirror_decapsulation = "sensor" (default) the sensor captures it there (filter
# udp dst port 4789) and decapsulates it itself: the VNI and the outer addresses stay in
# netsensor.tunnel.*, and no boot-time setup is needed. "kernel" adds a VXLAN device
# mirror0 (sensor-user-data.yaml) that presents the inner frames instead.
# netsensor_captures in the inventory output follows the choice.
module "sensors" {
  source             = "../../modules/instances"
  name               = "${var.name}-sensor"
  role               = "sensors"
  instance_count     = var.sensors.count
  instance_type      = var.sensors.instance_type
  ami_id             = var.ami_id
  key_name           = var.key_name
  subnet_ids         = module.network.private_subnet_ids
  security_group_ids = [module.security_groups.ids["sensor"]]
  data_volume_size   = var.sensors.data_gib
  user_data          = var.mirror_decapsulation == "kernel" ? file("${path.module}/sensor-user-data.yaml") : null
}

module "traffic_mirroring" {
  source                       = "../../modules/traffic-mirroring"
  count                        = length(var.mirror_source_network_interface_ids) > 0 ? 1 : 0
  name                         = var.name
  target_network_interface_ids = [for sensor in module.sensors.instances : sensor.network_interface_id]
  source_network_interface_ids = var.mirror_source_network_interface_ids
  virtual_network_id           = var.mirror_vni
}
