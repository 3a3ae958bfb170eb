output "ansible_inventory" {
  description = "Ansible inventory (YAML) for ansible/site.yml: groups elasticsearch, kibana, logstash, kafka, sensors. Save it with: terraform output -raw ansible_inventory > ../../../ansible/inventories/aws/hosts.yml"
  value = templatefile("${path.module}/inventory.yaml.tftpl", {
    mirror_decapsulation = var.mirror_decapsulation
    groups = {
      elasticsearch = try(module.stack["elasticsearch"].instances, [])
      kibana        = try(module.stack["kibana"].instances, [])
      logstash      = try(module.stack["logstash"].instances, [])
      kafka         = try(module.stack["kafka"].instances, [])
      sensors       = module.sensors.instances
    }
  })
}

output "vpc_id" {
  description = "ID of the VPC."
  value       = module.network.vpc_id
}

output "mirror_session_ids" {
  description = "Traffic mirror sessions (empty without mirror sources)."
  value       = try(module.traffic_mirroring[0].session_ids, [])
}
