"""Energy cooperatives: members who own shares of shared solar equipment and govern it together."""
