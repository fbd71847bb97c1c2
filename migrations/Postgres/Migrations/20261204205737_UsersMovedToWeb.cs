using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Studio.Migrations.Postgres.Migrations
{
    /// <summary>
    /// The users' tables (ASP.NET Core Identity) left StudioDbContext's model for the web host's StudioIdentityDbContext
    /// (src/Studio.Web/Auth), which adopts them where they exist. Nothing is dropped: the users stay.
    /// </summary>
    public partial class UsersMovedToWeb : Migration
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
