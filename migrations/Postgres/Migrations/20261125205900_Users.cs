using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace Studio.Migrations.Postgres.Migrations
{
    /// <summary>
    /// Created the users' tables (ASP.NET Core Identity) when they belonged to StudioDbContext. They belong to the web
    /// host's StudioIdentityDbContext now (src/Studio.Web/Auth), whose first migration creates them, or adopts them in a
    /// database where this migration made them; so this one does nothing any more.
    /// </summary>
    public partial class Users : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
        }
    }
}
